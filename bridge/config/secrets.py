"""Secret references: passwords and tokens come from files, systemd credentials, environment
variables or a command's output, never from the TOML itself. Values are masked in reprs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bridge.redact import remember

KINDS = ("file", "credential", "env", "command")
_WATCHERS: list[Callable[[str], None]] = []  # told every value resolved (the log redactor)


def watch_resolved(watcher: Callable[[str], None]) -> None:
    """Call `watcher` with every secret value resolved from now on, whatever its kind: a
    {command} secret (a token that rotates) is known only once it has been run."""
    if watcher not in _WATCHERS:
        _WATCHERS.append(watcher)


class SecretError(ValueError):
    """A secret reference cannot be resolved; the message never contains the secret."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives: {file = PATH} | {credential = NAME} | {env = VAR} | {command = [..]}."""

    kind: str
    where: str | tuple[str, ...]

    def resolve(self, environ: dict[str, str] | None = None) -> str:
        """Read the secret now (tokens that rotate are read again at each connect)."""
        value = self._read(os.environ if environ is None else environ)
        remember(value)  # masked in every error text from now on (bridge.redact)
        for watcher in _WATCHERS:
            watcher(value)
        return value

    def _read(self, env: os._Environ[str] | dict[str, str]) -> str:
        if self.kind == "env":
            value = env.get(str(self.where))
            if value is None:
                raise SecretError(f"environment variable {self.where} is not set")
            return value.strip()
        if self.kind == "command":
            return _run_command(tuple(self.where))
        return _read_file(self._path(env))

    def _path(self, env: os._Environ[str] | dict[str, str]) -> Path:
        if self.kind == "file":
            return Path(str(self.where))
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise SecretError(
                f"credential {self.where}: $CREDENTIALS_DIRECTORY is not set "
                "(use LoadCredential= in the systemd unit, or a file/env secret)"
            )
        return Path(directory) / str(self.where)


def _read_file(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not value:
        raise SecretError(f"secret file {path} is empty")
    return value


def _run_command(argv: tuple[str, ...]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SecretError(f"secret command {argv[0]} failed: {type(exc).__name__}") from None
    if done.returncode != 0:
        raise SecretError(f"secret command {argv[0]} exited {done.returncode}")
    value = done.stdout.strip()
    if not value:
        raise SecretError(f"secret command {argv[0]} printed nothing")
    return value


def parse_secret_ref(value: object, path: str, problems: list[str]) -> SecretRef | None:
    """A SecretRef from a TOML value, appending a problem (with its key path) when it is wrong."""
    if isinstance(value, str):
        problems.append(
            f"{path}: secrets must not be written in the config file; use "
            '{ file = "/path" }, { credential = "name" }, { env = "VAR" } or { command = [...] }'
        )
        return None
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in KINDS:
        problems.append(f"{path}: expected exactly one of {', '.join(KINDS)}")
        return None
    kind, where = next(iter(value.items()))
    if kind == "command":
        if not (isinstance(where, list) and where and all(isinstance(w, str) for w in where)):
            problems.append(f"{path}.command: expected a non-empty list of strings")
            return None
        return SecretRef(kind, tuple(where))
    if not isinstance(where, str) or not where:
        problems.append(f"{path}.{kind}: expected a non-empty string")
        return None
    return SecretRef(kind, where)
