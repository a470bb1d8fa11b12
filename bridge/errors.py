"""The bridge's error types: adapters translate library errors into these, and stages see only
these (never an adapter's own exception).

"Ambiguous" has one definition (is_ambiguous): a failure after which the request may have
reached the server and taken effect (a post made, a mail queued). Nothing may be sent again
before it is reconciled (X: the account's own posts; mail: the list's echo).
"""

from __future__ import annotations

from datetime import datetime

from bridge.redact import redact


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose. Its text is redacted when made (a
    server's error may echo the credentials it refused), so it is safe to print, log or store."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class TransientError(BridgeError):
    """Worth retrying later: timeouts, resets, 5xx, rate limits, a server restarting. Unless a
    subclass says otherwise the outcome is unknown, so it counts as ambiguous."""

    ambiguous = True


class Uncertain(TransientError):
    """The call may have taken effect (a timeout, a reset or a 5xx after the request was sent)."""

    ambiguous = True


class NotSent(TransientError):
    """The call surely did not take effect (connection refused, a 4xx before the message)."""

    ambiguous = False


class RateLimited(NotSent):
    """429: nothing was done; `reset_at` is when the server allows the next call (None: unsaid)."""

    def __init__(self, message: str, reset_at: datetime | None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


def transient(message: str, *, ambiguous: bool) -> TransientError:
    """Uncertain or NotSent, for an adapter that knows which side of the request it failed on."""
    return Uncertain(message) if ambiguous else NotSent(message)


class PermanentError(BridgeError):
    """Retrying the same call will not help: rejected input, a refused recipient."""


class AuthError(PermanentError):
    """Credentials were refused: stop using that service and tell the admin loudly."""


class DuplicatePost(PermanentError):
    """The network refused the post because this account already posted the same text."""


class MessageRefused(PermanentError):
    """The server refused this message for good (SMTP 5xx to its envelope or data); `code` is
    the reply code (0 if none). Other messages may still go: this is not the session's fault."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def is_ambiguous(exc: BaseException) -> bool:
    """After a send was attempted and failed: may it have taken effect? A transient error says
    (Uncertain yes; NotSent and RateLimited no); a permanent one is a refusal (no); any other
    failure is unknown, and an unknown failure after the request may have reached the server
    is ambiguous."""
    if isinstance(exc, TransientError):
        return exc.ambiguous
    return not isinstance(exc, PermanentError)


class ConfigError(BridgeError):
    """The configuration is unusable; `problems` lists every issue found, with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


class StoreError(BridgeError):
    """The state database cannot be used (e.g. it was written by a newer version)."""
