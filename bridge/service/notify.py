"""The systemd notify protocol (READY=1, STATUS=, WATCHDOG=1, ...) without libsystemd.

A datagram per state change to the unix socket named by $NOTIFY_SOCKET ("@name" is an abstract
socket). Without that variable (a terminal, a test, another supervisor) every call is a no-op.
Sending never raises: losing a status line must not stop the bridge, and if the watchdog pings
are the ones lost, systemd restarts us, which is the right outcome anyway.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger(__name__)

MAX_STATUS_CHARS = 200
STALL_SECONDS = 15 * 60.0  # no progress for this long: stop feeding the watchdog (we are stuck)
SEND_TIMEOUT_SECONDS = 2.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_status(text: str) -> str:
    """One line of printable text: newlines would start a new KEY=VALUE assignment."""
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= MAX_STATUS_CHARS else line[: MAX_STATUS_CHARS - 1] + "…"


def socket_address(value: str) -> str | None:
    """$NOTIFY_SOCKET as a socket address: a path, or "@name" for the abstract namespace."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None  # empty, relative, or a transport we do not speak (vsock:...)


def watchdog_usec(environ: Mapping[str, str], pid: int) -> int | None:
    """$WATCHDOG_USEC when it is meant for this process ($WATCHDOG_PID, if set, is our PID)."""
    owner = environ.get("WATCHDOG_PID", "").strip()
    if owner and owner != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec if usec > 0 else None


class Notifier:
    """Tells systemd how the daemon is doing; every method is a no-op without a notify socket."""

    def __init__(self, address: str | None = None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        self._failing = False
        self._lock = threading.Lock()  # the watchdog keeper sends from its own thread

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, pid: int | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        address = socket_address(raw)
        if raw and address is None:
            log.warning("notify_socket_unsupported", notify_socket=raw)
        return cls(address, watchdog_usec(env, os.getpid() if pid is None else pid))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the timeout), None when no watchdog is armed."""
        if not self.enabled or self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 2_000_000

    def ready(self, status: str = "") -> None:
        """Startup (or a reload) is complete: systemd reports the unit active."""
        self._send("READY=1", status)

    def status(self, text: str) -> None:
        """A one-line summary shown by `systemctl status`."""
        self._send("", text)

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def reloading(self, status: str = "") -> None:
        """A reload began; call ready() when it is done (MONOTONIC_USEC: Type=notify-reload)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}", status)

    def stopping(self, status: str = "") -> None:
        self._send("STOPPING=1", status)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, fields: str, status: str = "") -> None:
        if self.address is None:
            return
        lines = [fields] if fields else []
        if status:
            lines.append(f"STATUS={clean_status(status)}")
        if not lines:
            return
        try:
            with self._lock:
                self._socket().sendto("\n".join(lines).encode("utf-8"), self.address)
        except OSError as exc:
            self._failed(exc)
            return
        if self._failing:
            self._failing = False
            log.info("notify_recovered")

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            sock.settimeout(SEND_TIMEOUT_SECONDS)
            self._sock = sock
        return self._sock

    def _failed(self, exc: OSError) -> None:
        self.close()  # a fresh socket next time
        if not self._failing:  # once per outage, not once per ping
            self._failing = True
            log.warning("notify_failed", notify_socket=(self.address or "").replace("\0", "@"),
                        error=f"{type(exc).__name__}: {exc}")


class WatchdogKeeper:
    """Feeds the watchdog from a thread while the daemon makes progress, so long work (a first
    backfill, SMTP retries, a slow X) is not killed; a daemon with no progress for
    `stall_seconds` is no longer fed, and systemd restarts it."""

    def __init__(self, notifier: Notifier, stall_seconds: float = STALL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier, self.stall_seconds, self._clock = notifier, stall_seconds, clock
        self._last = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def progress(self) -> None:
        """The daemon moved on (a stage began, a batch was stored, a wait ended)."""
        self._last = self._clock()

    def start(self) -> None:
        interval = self.notifier.watchdog_interval()
        if interval is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._feed, args=(interval,), name="watchdog",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _feed(self, interval: float) -> None:
        starved = False
        while not self._stop.wait(interval):
            stalled = self._clock() - self._last >= self.stall_seconds
            if not stalled:
                self.notifier.watchdog()
            elif not starved:  # once per stall
                log.error("watchdog_starved", seconds_without_progress=round(self._clock() - self._last))
            starved = stalled
