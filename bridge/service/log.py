"""Logging setup: structlog, readable on a terminal, JSON lines otherwise (journald), secrets masked.

Logs go to stderr so that a command's own output on stdout (e.g. `threads --json`) stays clean.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from datetime import date, datetime
from types import ModuleType
from typing import Any, TextIO

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
    terminal, JSON lines under systemd or when asked (`fmt`, or `json` to force either way).

    structlog itself (~0.1 s to load) is not imported here: the settings apply now if it is
    loaded already, else the moment a module that logs first imports it (`_ON_IMPORT`). A
    command that never logs (`status`, `threads`) never loads it; one that does is configured
    before its first event."""
    watch_resolved(REDACTOR.add_one)  # every secret read from now on, SIGHUP reloads included
    out: Any = stream or _CurrentStderr()
    as_json = wants_json(fmt, out) if json is None else json
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)

    def apply() -> None:
        import structlog

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
            wrapper_class=structlog.make_filtering_bound_logger(threshold),
            logger_factory=structlog.PrintLoggerFactory(file=out),
            cache_logger_on_first_use=False,
        )

    _ON_IMPORT.pending = None
    if "structlog" in sys.modules:
        apply()
    else:
        _ON_IMPORT.pending = apply
        if _ON_IMPORT not in sys.meta_path:
            sys.meta_path.insert(0, _ON_IMPORT)


class _ConfigureOnImport(importlib.abc.MetaPathFinder):
    """Finds structlog as the path finder would, and has the pending settings applied as soon as
    its package has run (before the importing module can log anything)."""

    def __init__(self) -> None:
        self.pending: Callable[[], None] | None = None

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "structlog" or self.pending is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenConfigure(spec.loader, self)
        return spec


class _ThenConfigure(importlib.abc.Loader):
    """structlog's own loader, followed by the pending configuration."""

    def __init__(self, loader: importlib.abc.Loader, finder: _ConfigureOnImport) -> None:
        self.loader = loader
        self.finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        pending, self.finder.pending = self.finder.pending, None
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        if pending is not None:
            pending()

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader...: structlog's
        return getattr(self.loader, name)


_ON_IMPORT = _ConfigureOnImport()
