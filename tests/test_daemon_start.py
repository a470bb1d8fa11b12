"""The daemon's start, in process: what it holds is released whatever fails."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from bridge_world import NotifyListener, wait_for
from structlog.testing import capture_logs

import bridge.service.daemon as daemon_module
from bridge.adapters.imap import FetchBatch
from bridge.compose.links import mailman_hash
from bridge.config.settings import Config
from bridge.decide.matcher import MatcherSettings
from bridge.errors import ConfigError
from bridge.model import Cursor, RawMail
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

    def recording_open(path: str | Path, timeout: float = 30.0) -> Store:
        opened.append(real_open(path, timeout))
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


T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class BusyWorld:
    """A list mailbox and an X account in process, on a simulated clock (waits move it on); while
    the daemon works, another process holds the database's write lock for a while."""

    folder = "INBOX"

    def __init__(self, db: Path, questions: int) -> None:
        self.clock = [T0]
        self.db, self.questions, self.fetches = db, questions, 0
        self.posts: list[str] = []
        self.other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)

    def now(self) -> datetime:
        return self.clock[0]

    def connect(self) -> int:
        return 1

    def fetch_new(self, cursor: Cursor | None) -> Iterator[FetchBatch]:
        self.fetches += 1
        if self.fetches == 2:  # the second cycle: `ingest --mbox` takes the write lock for 2 s
            self.other.execute("BEGIN IMMEDIATE")
            threading.Timer(2.0, self.other.execute, ("COMMIT",)).start()
        if self.fetches > 60 or len(self.posts) == self.questions:  # bounded
            os.kill(os.getpid(), signal.SIGTERM)
        if cursor is None:
            yield FetchBatch(tuple(RawMail(question(n), f"test uid {n}", uid=n)
                                   for n in range(1, self.questions + 1)), (),
                             Cursor(self.folder, 1, self.questions))

    def wait_for_mail(self, seconds: float) -> bool:
        self.clock[0] += timedelta(seconds=seconds)
        return False

    def close(self) -> None:
        pass

    def publish(self, text: str) -> str:
        self.posts.append(text)
        return str(len(self.posts))

    def find_post(self, link: str, since: datetime) -> str | None:
        return None

    def check_auth(self) -> str:
        return "bot"


def question(n: int) -> bytes:
    mid = f"busy{n}@example.org"
    return (f"Message-ID: <{mid}>\nFrom: Ann <ann@example.org>\n"
            f"Date: {format_datetime(T0)}\nSubject: How do I renew serial {n}?\n"
            "List-Id: <solo.lists.example.org>\nArchived-At: <https://lists.example.org/archives/"
            f"list/solo@lists.example.org/message/{mailman_hash(mid)}/>\n\n"
            f"Serial {n} lapsed. How do I renew it?\n").encode()


def test_the_daemon_waits_for_a_busy_database_and_never_dies(tmp_path: Path) -> None:
    """Issue 13: `ingest --mbox` held the write lock past the busy timeout and the daemon exited
    with `database is locked`. Here another connection holds it for 2 s against a 0.2 s busy
    timeout: the daemon waits, retries, and posts every question once."""
    db = tmp_path / "b.sqlite3"
    Store.open(db).close()
    world = BusyWorld(db, questions=2)
    config = Config(matcher=MatcherSettings(unanswered_after=timedelta(minutes=10)))
    daemon = Daemon(config, None, str(db), lambda _: Services(mailbox=world, publisher=world),  # type: ignore[arg-type]
                    Notifier(), now=world.now, busy_timeout=0.2)
    with capture_logs() as logs:
        assert daemon.run() == 0
    world.other.close()
    assert len(world.posts) == 2 and len(set(world.posts)) == 2
    assert any(e["event"] == "database_busy" for e in logs)
