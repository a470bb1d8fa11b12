"""The daemon's start, in process: what it holds is released whatever fails."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_world import NotifyListener, wait_for

import bridge.service.daemon as daemon_module
from bridge.config.settings import Config
from bridge.errors import ConfigError
from bridge.service.daemon import Daemon
from bridge.service.lock import StateLock
from bridge.service.notify import Notifier
from bridge.service.pipeline import Services
from bridge.store.db import Store


def test_a_failing_build_releases_the_store_the_lock_and_the_signal_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 9: when building the services failed at start, the store stayed open and the
    daemon's signal handlers stayed installed."""
    opened: list[Store] = []
    real_open = Store.open

    def recording_open(path: str | Path) -> Store:
        opened.append(real_open(path))
        return opened[-1]

    def failing_build(config: Config) -> Services:
        raise ConfigError(["x.consumer_key: secret command false exited 1"])

    monkeypatch.setattr(daemon_module.Store, "open", recording_open)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    db = str(tmp_path / "state" / "b.sqlite3")
    with pytest.raises(ConfigError):
        Daemon(Config(), None, db, failing_build, Notifier()).run()
    assert {s: signal.getsignal(s) for s in before} == before
    assert len(opened) == 1
    with pytest.raises(Exception, match="closed"):
        opened[0].conn.execute("SELECT 1")
    with StateLock(db):  # a new daemon may start
        pass


class BackfillMailbox:
    """A first backfill that takes long: fetch_new lasts until systemd's watchdog has been fed
    during it (bounded), then asks the daemon to stop."""

    folder = "INBOX"

    def __init__(self, notify: NotifyListener) -> None:
        self.notify = notify
        self.fed_while_busy = False

    def connect(self) -> int:
        return 1

    def fetch_new(self, cursor: object) -> Iterator[object]:
        self.notify.lines.clear()
        try:
            wait_for("WATCHDOG=1 during the backfill", lambda: "WATCHDOG=1" in self.notify.lines, 10)
            self.fed_while_busy = True
        except AssertionError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        yield from ()

    def close(self) -> None:
        pass


def test_the_watchdog_is_fed_during_long_work_not_only_between_cycles(tmp_path: Path) -> None:
    """Issue 9: with WatchdogSec=120, a first backfill or SMTP retries longer than that got the
    daemon killed mid-work: it pinged only between cycles."""
    notify = NotifyListener(tmp_path / "notify.sock")
    mailbox = BackfillMailbox(notify)
    try:
        daemon = Daemon(Config(), None, str(tmp_path / "b.sqlite3"),
                        lambda _: Services(mailbox=mailbox),  # type: ignore[arg-type]
                        Notifier(str(tmp_path / "notify.sock"), watchdog_usec=200_000))
        assert daemon.run() == 0
    finally:
        notify.close()
    assert mailbox.fed_while_busy
