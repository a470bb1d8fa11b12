"""A typed reader over one TOML table that collects every problem with its key path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from bridge.config.secrets import SecretRef, parse_secret_ref
from bridge.durations import parse_duration

T = TypeVar("T")

# Values the shipped example uses: a config that still holds one was never filled in.
PLACEHOLDER_MARK = "CHANGE-ME"


class Section:
    """Reads keys of one table; `problems` is shared by all sections of a config file."""

    def __init__(self, data: object, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        self.used: set[str] = set()
        if data is None:
            data = {}
        if not isinstance(data, dict):
            problems.append(f"{path}: expected a table")
            data = {}
        self.data: dict[str, Any] = data
        self.present = bool(data)

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def _get(self, name: str, default: T, kind: type | tuple[type, ...], what: str) -> T:
        self.used.add(name)
        if name not in self.data:
            return default
        value = self.data[name]
        if isinstance(value, bool) and kind is not bool:
            self.problems.append(f"{self.key(name)}: expected {what}, got {value!r}")
            return default
        if not isinstance(value, kind):
            self.problems.append(f"{self.key(name)}: expected {what}, got {value!r}")
            return default
        if isinstance(value, str) and PLACEHOLDER_MARK in value:
            self.problems.append(f"{self.key(name)}: still the example's placeholder {value!r}")
            return default
        return value  # type: ignore[return-value]

    def string(self, name: str, default: str = "", choices: tuple[str, ...] = ()) -> str:
        value: str = self._get(name, default, str, "a string")
        if choices and value not in choices:
            self.problems.append(f"{self.key(name)}: must be one of {', '.join(choices)}")
            return default
        return value

    def required_string(self, name: str) -> str:
        if name not in self.data:
            self.problems.append(f"{self.key(name)}: required")
        value: str = self.string(name)
        if name in self.data and not value.strip() and isinstance(self.data[name], str):
            self.problems.append(f"{self.key(name)}: must not be empty")
        return value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int = 2**62) -> int:
        value: int = self._get(name, default, int, "an integer")
        if not minimum <= value <= maximum:
            self.problems.append(f"{self.key(name)}: must be between {minimum} and {maximum}")
            return default
        return value

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        value = self._get(name, default, (int, float), "a number")
        if value < minimum:
            self.problems.append(f"{self.key(name)}: must be at least {minimum}")
            return default
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value: bool = self._get(name, default, bool, "true or false")
        return value

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(name, list(default), list, "a list of strings")
        if not all(isinstance(v, str) for v in value):
            self.problems.append(f"{self.key(name)}: expected a list of strings")
            return default
        return tuple(value)

    def duration(self, name: str, default: str) -> timedelta:
        text: str = self._get(name, default, str, 'a duration such as "36h" or "2d"')
        return self._convert(name, text, parse_duration, parse_duration(default))

    def secret(self, name: str, required: bool) -> SecretRef | None:
        self.used.add(name)
        if name not in self.data:
            if required:
                self.problems.append(f"{self.key(name)}: required")
            return None
        return parse_secret_ref(self.data[name], self.key(name), self.problems)

    def sub(self, name: str) -> Section:
        self.used.add(name)
        return Section(self.data.get(name), self.key(name), self.problems)

    def _convert(self, name: str, text: str, fn: Callable[[str], T], default: T) -> T:
        try:
            return fn(text)
        except ValueError as exc:
            self.problems.append(f"{self.key(name)}: {exc}")
            return default

    def finish(self) -> None:
        """Report keys nobody read: a typo should not be silently ignored."""
        for name in sorted(set(self.data) - self.used):
            self.problems.append(f"{self.key(name)}: unknown key")
