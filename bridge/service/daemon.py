"""`listserv-bridge run`: one process, one loop. Wait (IMAP IDLE, or the next due time), run a
cycle, repeat. SIGTERM stops after the current step; SIGHUP reloads config and templates."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import structlog

from bridge.config.settings import Config, check_secrets, load_config
from bridge.errors import AuthError, BridgeError, ConfigError
from bridge.service.lock import StateLock
from bridge.service.metrics import MetricsSink, start_metrics
from bridge.service.notify import Notifier, WatchdogKeeper
from bridge.service.pipeline import STAGES, Bridge, CycleReport, Services, network_names
from bridge.stages.publish import Publisher, Target, resume_posting
from bridge.stopping import clear as clear_stop_request
from bridge.stopping import request_stop
from bridge.store.db import Store, is_busy

log = structlog.get_logger()

ServiceFactory = Callable[[Config], Services]
BUSY_PAUSE = 1.0  # seconds between cycles while another process holds the database
CONNECT_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # seconds between failed IMAP connects


class Interrupted(BaseException):
    """Raised by the signal handler to end a blocking wait (IDLE, sleep) at once."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _close_mailboxes(services: Services) -> None:
    for box in (services.mailbox, services.approval_mailbox):
        if box is not None:
            box.close()


class Daemon:
    """Owns the lock, the store, the services and the signal handlers for one run."""

    def __init__(self, config: Config, config_path: str | None, db_path: str,
                 build: ServiceFactory, notifier: Notifier,
                 now: Callable[[], datetime] = utc_now, busy_timeout: float = 30.0) -> None:
        self.config, self.config_path, self.db_path = config, config_path, db_path
        self.busy_timeout = busy_timeout  # how long one statement waits for another writer
        self.build, self.notifier, self.now = build, notifier, now
        self.stopping = False
        self.keeper = WatchdogKeeper(notifier)
        self.reload_requested = False
        self._interruptible = False
        self._connected_once = False
        self._failures = 0

    # -- signals -----------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested = True
        else:
            self.stopping = True
            request_stop()  # an adapter waiting between retries gives up at once
        if self._interruptible:
            raise Interrupted()

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Within this block a signal ends the work at once (it must be safe to abandon)."""
        self._interruptible = True
        try:
            if not self.stopping and not self.reload_requested:
                yield
        except Interrupted:
            pass
        finally:
            self._interruptible = False

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> int:
        Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
        clear_stop_request()  # a stop asked of an earlier daemon in this process is not ours
        with StateLock(self.db_path):
            store = Store.open(self.db_path, timeout=self.busy_timeout)
            previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT,
                                                                    signal.SIGHUP)}
            services: Services | None = None
            metrics: MetricsSink | None = None
            keeper = self.keeper
            try:  # whatever fails from here on, the store and the signal handlers are released
                keeper.start()  # fed during long work too (a first backfill, SMTP retries)
                services = self.build(self.config)
                metrics = start_metrics(self.config.metrics, STAGES, network_names(services))
                bridge = Bridge(self.config, store, services, metrics=metrics,
                                progress=keeper.progress)
                self._resume(store, services)
                self._loop(bridge, services)
            finally:
                keeper.stop()
                self.notifier.stopping("stopping")
                if services is not None:
                    _close_mailboxes(services)
                store.close()
                if metrics is not None:
                    metrics.stop()
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        log.info("daemon_stopped")
        return 0

    def _loop(self, bridge: Bridge, services: Services) -> None:
        while not self.stopping:
            if self.reload_requested:
                bridge = self._reload(bridge, services)
            self._ensure_connected(services)
            if self.stopping:
                break
            # while IMAP is down the other stages still run; ingest waits for the reconnect
            try:
                report = bridge.cycle(self.now(), skip=frozenset({"ingest"}) if self._failures
                                      else frozenset())
            except Exception as exc:
                if not is_busy(exc):
                    raise
                self._wait_for_database(str(exc))  # what committed stays; the cycle runs again
                continue
            self._after_cycle(report)
            if report.next_wake is not None:
                self._wait(services, report.next_wake)

    def _wait_for_database(self, error: str) -> None:
        """Another process holds the database (`ingest --mbox`, a backup): wait, never die."""
        log.warning("database_busy", error=error, retry_in=BUSY_PAUSE)
        self.notifier.status(f"database busy, retrying in {BUSY_PAUSE:.0f}s")
        self._ping()
        with self.interruptible():
            self._sleep(BUSY_PAUSE)

    def _resume(self, store: Store, services: Services) -> None:
        """Lift each network's auth suspension whose credentials work again."""
        targets: list[Publisher | Target] = [Target(n.name, n.network) for n in services.networks]
        if services.publisher is not None:
            targets.insert(0, services.publisher)
        for target in targets:
            try:
                resume_posting(store, target, self.now())
            except Exception as exc:  # the network refusing, or the database busy: next start
                if not (isinstance(exc, BridgeError) or is_busy(exc)):
                    raise
                log.error("posting_resume_failed", error=str(exc))

    def _ensure_connected(self, services: Services) -> None:
        """Connect IMAP before the first cycle (READY=1 only then); back off while it fails."""
        if services.mailbox is None:
            if not self._connected_once:
                self._connected_once = True
                self.notifier.ready("running without IMAP")
            return
        if self._connected_once and self._failures == 0:
            return  # later reconnects happen inside fetch_new
        try:
            with self.interruptible():
                services.mailbox.connect()
                self._failures = 0
                if not self._connected_once:
                    self._connected_once = True
                    self.notifier.ready("connected")
                    log.info("daemon_ready")
        except AuthError:
            if not self._connected_once:
                raise  # refused at start: exit non-zero so systemd shows the failure
            self._back_off("IMAP login refused")
        except BridgeError as exc:
            self._back_off(str(exc))

    def _back_off(self, error: str) -> None:
        pause = CONNECT_BACKOFF[min(self._failures, len(CONNECT_BACKOFF) - 1)]
        self._failures += 1
        log.error("imap_connect_failed", error=error, retry_in=pause)
        self.notifier.status(f"IMAP connect failed, retrying in {pause:.0f}s")
        with self.interruptible():
            self._sleep(pause)

    def _ping(self) -> None:
        self.keeper.progress()
        if self.notifier.watchdog_interval() is not None:
            self.notifier.watchdog()

    def _after_cycle(self, report: CycleReport) -> None:
        self._ping()
        if report.errors:
            self._failures = self._failures + 1 if "ingest" in report.errors else self._failures
            self.notifier.status("cycle had errors: " + ", ".join(sorted(report.errors)))
        else:
            self._failures = 0
            self.notifier.status(f"idle; {report.ingested} new, {report.published} posted, "
                                 f"{report.relayed} relayed in the last cycle")

    def _wait(self, services: Services, until: datetime) -> None:
        """Block until new mail, `until`, or a signal; ping the watchdog while waiting."""
        step = self.notifier.watchdog_interval()
        while not self.stopping and not self.reload_requested:
            left = (until - self.now()).total_seconds()
            if left <= 0:
                return
            chunk = min(left, step) if step else left
            arrived = False
            with self.interruptible():
                arrived = self._wait_chunk(services, chunk)
            self._ping()
            if arrived:
                return

    def _wait_chunk(self, services: Services, seconds: float) -> bool:
        mailbox = services.mailbox
        if mailbox is None or self._failures:
            self._sleep(seconds)
            return False
        try:
            return mailbox.wait_for_mail(seconds)
        except BridgeError as exc:  # a dead connection: the next cycle reconnects
            log.warning("imap_wait_failed", error=str(exc))
            self._failures += 1
            return True

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _reload(self, bridge: Bridge, services: Services) -> Bridge:
        """SIGHUP: a valid new config (and templates) replaces the old; a bad one is refused."""
        self.reload_requested = False
        self.notifier.reloading("reloading configuration")
        try:
            config = load_config(self.config_path)
            check_secrets(config)
        except ConfigError as exc:
            log.error("config_reload_refused", problems=exc.problems)
            self.notifier.ready("reload refused: bad config, old config kept")
            return bridge
        try:  # the new services are built before the old ones are closed: a failure keeps them
            new_services = self.build(config)
        except Exception as exc:  # a failing secret command, an adapter refusing its settings
            log.error("config_reload_refused", error=f"{type(exc).__name__}: {exc}")
            self.notifier.ready("reload refused: services could not be built, old config kept")
            return bridge
        _close_mailboxes(services)
        services.mailbox, services.publisher = new_services.mailbox, new_services.publisher
        services.reply_source, services.sender = new_services.reply_source, new_services.sender
        services.approval_mailbox = new_services.approval_mailbox
        self.config = config
        self._connected_once = services.mailbox is None
        self._failures = 1 if services.mailbox is not None else 0
        bridge.metrics.networks_configured(network_names(services))  # a network added by the reload
        log.info("config_reloaded", source=config.source)
        self.notifier.ready("configuration reloaded")
        return Bridge(config, bridge.store, services, metrics=bridge.metrics,
                      progress=bridge.progress)
