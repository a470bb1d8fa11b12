"""A process-wide stop request. The daemon sets it on SIGTERM/SIGINT; an adapter's wait between
retries ends at once and no retry follows, so a stop never waits out a backoff (issue 13: stop
within seconds from any wait). A signal is process-wide, so this one flag is too."""

from __future__ import annotations

import threading

from tenacity import stop_when_event_set

_requested = threading.Event()
# tenacity stop condition: no further attempt once a stop is requested
stop_when_requested = stop_when_event_set(_requested)


def request_stop() -> None:
    """Ask every wait between retries to end now (called from the signal handler)."""
    _requested.set()


def stop_requested() -> bool:
    return _requested.is_set()


def wait(seconds: float) -> None:
    """Sleep between retries, ending early when a stop is requested (tenacity's `sleep`)."""
    _requested.wait(seconds)


def clear() -> None:
    """Forget a stop request (a new daemon in the same process: tests)."""
    _requested.clear()
