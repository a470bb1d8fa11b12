"""The bridge's error types: adapters translate library errors into these."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class TransientError(BridgeError):
    """Worth retrying later: timeouts, resets, 5xx, rate limits, a server restarting."""


class PermanentError(BridgeError):
    """Retrying the same call will not help: rejected input, a refused recipient."""


class AuthError(PermanentError):
    """Credentials were refused: stop using that service and tell the admin loudly."""


class ConfigError(BridgeError):
    """The configuration is unusable; `problems` lists every issue found, with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


class StoreError(BridgeError):
    """The state database cannot be used (e.g. it was written by a newer version)."""
