"""Logging setup: structlog, readable on a terminal, JSON lines otherwise (journald), secrets masked.

Logs go to stderr so that a command's own output on stdout (e.g. `threads --json`) stays clean.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import date, datetime
from typing import Any, TextIO

import structlog

from bridge.config.secrets import watch_resolved
from bridge.redact import REDACTED, redact


class SecretRedactor:
    """A structlog processor that replaces every known secret value wherever it appears."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.add(secrets)

    def add_one(self, secret: str) -> None:
        """Mask this value too (the secret reader calls it with every value it resolves)."""
        if len(secret) >= 4 and secret not in self.secrets:
            self.add([secret])

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({*self.secrets, *(s for s in secrets if len(s) >= 4)}, key=len,
                              reverse=True)

    def _mask(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return redact(value)  # and credential shapes a server may echo (bridge.redact)
        if isinstance(value, dict):
            return {k: self._mask(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._mask(v) for v in value)
        if isinstance(value, BaseException):
            return self._mask(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._mask(event_dict[key])
        return event_dict


REDACTOR = SecretRedactor()


def iso_datetimes(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: datetime values become ISO 8601 strings, never their repr."""
    for key, value in event_dict.items():
        if isinstance(value, datetime | date):
            event_dict[key] = value.isoformat()
    return event_dict


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time (it may be swapped after configuration)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def wants_json(fmt: str, out: Any, environ: Mapping[str, str] | None = None) -> bool:
    """JSON for machines: asked for, or under systemd ($JOURNAL_STREAM), or off a terminal."""
    if fmt in ("json", "console"):
        return fmt == "json"
    env = os.environ if environ is None else environ
    return bool(env.get("JOURNAL_STREAM")) or not out.isatty()


def configure_logging(level: str = "info", stream: TextIO | None = None,
                      json: bool | None = None, fmt: str = "auto") -> None:
    """Configure structlog once per process: logs on stderr (or `stream`), readable lines on a
    terminal, JSON lines under systemd or when asked (`fmt`, or `json` to force either way)."""
    watch_resolved(REDACTOR.add_one)  # every secret read from now on, SIGHUP reloads included
    out: Any = stream or _CurrentStderr()
    as_json = wants_json(fmt, out) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            iso_datetimes,
            REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
