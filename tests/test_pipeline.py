"""The orchestrator with stand-in adapters: stage boundaries, incremental matching, wake times."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import structlog

import bridge.service.pipeline as pipeline
from bridge.compose.links import mailman_hash
from bridge.compose.relay_email import RelaySettings
from bridge.config.secrets import SecretRef
from bridge.config.settings import Config
from bridge.decide.caps import PublishSettings
from bridge.decide.matcher import MatcherSettings
from bridge.errors import RateLimited, TransientError
from bridge.model import Cursor, FetchBatch, RawMail
from bridge.service.log import configure_logging
from bridge.service.pipeline import Bridge, Services
from bridge.store.db import Store, to_epoch

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def question(n: int, when: datetime) -> bytes:
    return (f"Message-ID: <p{n}@example.org>\nFrom: Ann <ann@example.org>\n"
            f"Date: {format_datetime(when)}\nSubject: How do I renew serial {n}?\n"
            "List-Id: <solo.lists.example.org>\nArchived-At: <https://lists.example.org/archives/"
            f"list/solo@lists.example.org/message/{mailman_hash(f'p{n}@example.org')}/>\n\n"
            "How do I renew it?\n").encode()


@dataclass
class ListMailbox:
    """An IMAP stand-in: what was delivered, fetched after the cursor."""

    folder: str = "INBOX"
    delivered: list[bytes] = field(default_factory=list)
    fail: bool = False

    def fetch_new(self, cursor: Cursor | None) -> Iterator[FetchBatch]:
        if self.fail:
            raise TransientError("imap down")
        start = cursor.last_uid if cursor else 0
        mails = tuple(RawMail(d, f"test uid {i + 1}", uid=i + 1)
                      for i, d in enumerate(self.delivered) if i + 1 > start)
        if mails:
            yield FetchBatch(mails, (), Cursor(self.folder, 1, len(self.delivered)))


@dataclass
class RecordingPublisher:
    posts: list[str] = field(default_factory=list)

    def publish(self, text: str) -> str:
        self.posts.append(text)
        return str(1000 + len(self.posts))

    def find_post(self, link: str, since: datetime) -> str | None:
        return None

    def check_auth(self) -> str:
        return "bot"


def make_bridge(tmp_path: Path) -> tuple[Bridge, ListMailbox, RecordingPublisher]:
    mailbox, publisher = ListMailbox(), RecordingPublisher()
    config = Config(matcher=MatcherSettings(unanswered_after=timedelta(minutes=10)))
    store = Store.open(tmp_path / "b.sqlite3")
    return Bridge(config, store, Services(mailbox=mailbox, publisher=publisher)), mailbox, publisher


def test_a_question_is_posted_once_when_due_and_the_wake_time_says_when(tmp_path: Path) -> None:
    bridge, mailbox, publisher = make_bridge(tmp_path)
    mailbox.delivered.append(question(1, T0))
    report = bridge.cycle(T0 + timedelta(minutes=1))
    assert report.ingested == 1 and publisher.posts == []
    assert report.next_wake == T0 + timedelta(minutes=10)  # the question's due time
    assert bridge.cycle(T0 + timedelta(minutes=10, seconds=1)).published == 1
    assert bridge.cycle(T0 + timedelta(hours=3)).published == 0
    assert len(publisher.posts) == 1 and "#sololibrarians" in publisher.posts[0]


def test_a_word_for_word_repost_in_a_new_thread_is_not_posted_again(tmp_path: Path) -> None:
    """One question, one post: the daemon plans only the new thread, yet sees the first one."""
    bridge, mailbox, publisher = make_bridge(tmp_path)
    first = question(1, T0)
    mailbox.delivered.append(first)
    bridge.cycle(T0 + timedelta(minutes=11))
    assert len(publisher.posts) == 1
    later = T0 + timedelta(days=20)  # beyond the subject window: a thread of its own
    repost = (first.replace(b"<p1@example.org>", b"<p1-again@example.org>")
              .replace(format_datetime(T0).encode(), format_datetime(later).encode())
              .replace(mailman_hash("p1@example.org").encode(),
                       mailman_hash("p1-again@example.org").encode()))
    mailbox.delivered.append(repost)
    bridge.cycle(later + timedelta(minutes=1))
    assert bridge.cycle(later + timedelta(hours=1)).published == 0
    assert len(publisher.posts) == 1


def test_an_idle_cycle_plans_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bridge, mailbox, _ = make_bridge(tmp_path)
    mailbox.delivered.append(question(1, T0))
    bridge.cycle(T0)
    planned: list[int] = []
    real = pipeline.plan_threads

    def counting(threads: list[object], *args: object, **kwargs: object) -> object:
        planned.append(len(threads))
        return real(threads, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "plan_threads", counting)
    for second in range(1, 500, 7):
        bridge.cycle(T0 + timedelta(seconds=second))
    assert planned == []  # nothing new and nothing due: the matcher is not even asked
    mailbox.delivered.append(question(2, T0 + timedelta(minutes=8)))
    bridge.cycle(T0 + timedelta(minutes=9))
    assert planned == [1]  # only the thread the new message touched


def test_a_failing_stage_is_recorded_and_the_others_still_run(tmp_path: Path) -> None:
    bridge, mailbox, publisher = make_bridge(tmp_path)
    mailbox.delivered.append(question(1, T0))
    bridge.cycle(T0)
    mailbox.fail = True
    report = bridge.cycle(T0 + timedelta(hours=3))
    assert "ingest" in report.errors and report.published == 1  # publishing went on
    row = bridge.store.conn.execute(
        "SELECT last_error, errors FROM stage_status WHERE stage = 'ingest'").fetchone()
    assert "imap down" in row[0] and row[1] == 1
    mailbox.fail = False
    assert bridge.cycle(T0 + timedelta(hours=4)).ok
    assert len(publisher.posts) == 1


@dataclass
class FlakyPublisher(RecordingPublisher):
    """Raises the queued errors, one per publish call, before it starts posting."""

    errors: list[Exception] = field(default_factory=list)
    calls: int = 0

    def publish(self, text: str) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return super().publish(text)


def spaced_bridge(tmp_path: Path, publisher: RecordingPublisher,
                  reconcile: timedelta = timedelta(minutes=10)) -> tuple[Bridge, ListMailbox]:
    mailbox = ListMailbox()
    config = Config(matcher=MatcherSettings(unanswered_after=timedelta(minutes=10)),
                    publish=PublishSettings(min_spacing=timedelta(minutes=5), max_per_hour=20,
                                            max_per_day=50, reconcile_window=reconcile))
    store = Store.open(tmp_path / "b.sqlite3")
    return Bridge(config, store, Services(mailbox=mailbox, publisher=publisher)), mailbox


def run_until_quiet(bridge: Bridge, start: datetime, cycles: int = 40) -> list[datetime]:
    """Cycle at each wake time the bridge asks for, until it only asks for the periodic re-check
    (bounded); the times it ran."""
    now, ran = start, []
    for _ in range(cycles):
        report = bridge.cycle(now)
        ran.append(now)
        assert report.next_wake is not None and report.next_wake > now
        if report.next_wake - now == pipeline.MAX_SLEEP:
            break
        now = report.next_wake
    return ran


def test_questions_due_together_are_all_posted_one_spacing_apart(tmp_path: Path) -> None:
    """Issue 9: the running daemon forgot a due question the minimum spacing deferred."""
    publisher = RecordingPublisher()
    bridge, mailbox = spaced_bridge(tmp_path, publisher)
    mailbox.delivered.extend(question(n, T0) for n in range(1, 4))
    bridge.cycle(T0)
    report = bridge.cycle(T0 + timedelta(minutes=10, seconds=1))
    assert report.published == 1
    assert report.next_wake == T0 + timedelta(minutes=15, seconds=1)  # the next slot
    run_until_quiet(bridge, report.next_wake)
    assert sorted(publisher.posts) == sorted(set(publisher.posts)) and len(publisher.posts) == 3


def test_a_429_whose_reset_is_seconds_away_retries_at_the_reset(tmp_path: Path) -> None:
    now = T0 + timedelta(minutes=10, seconds=1)
    publisher = FlakyPublisher(errors=[RateLimited("429", reset_at=now + timedelta(seconds=3))])
    bridge, mailbox = spaced_bridge(tmp_path, publisher)
    mailbox.delivered.extend(question(n, T0) for n in range(1, 3))
    bridge.cycle(T0)
    report = bridge.cycle(now)
    assert report.published == 0 and report.next_wake == now + timedelta(seconds=3)
    run_until_quiet(bridge, now + timedelta(seconds=3))
    assert len(publisher.posts) == 2 and len(set(publisher.posts)) == 2


def test_an_unknown_outcome_is_reconciled_and_a_requeued_post_is_sent(tmp_path: Path) -> None:
    """After post_outcome_unknown the bridge wakes for the reconciliation, and a row requeued
    because X never showed it is sent without new mail."""
    now = T0 + timedelta(minutes=10, seconds=1)
    publisher = FlakyPublisher(errors=[TransientError("503 from X")])
    bridge, mailbox = spaced_bridge(tmp_path, publisher, reconcile=timedelta(minutes=5))
    mailbox.delivered.append(question(1, T0))
    bridge.cycle(T0)
    report = bridge.cycle(now)
    assert publisher.calls == 1 and report.next_wake == now + pipeline.MIN_SLEEP  # reconcile soon
    report = bridge.cycle(report.next_wake)  # not on X yet: look again when the window ends
    assert report.next_wake == now + timedelta(minutes=5)
    ran = run_until_quiet(bridge, report.next_wake)
    assert publisher.calls == 2 and len(publisher.posts) == 1 and len(ran) <= 3


def test_a_bug_in_a_stage_is_logged_with_its_traceback(tmp_path: Path) -> None:
    """Issue 9: the stage boundary logged only `KeyError: 'x'`; a known failure stays one line."""
    bridge, mailbox, _ = make_bridge(tmp_path)
    out = io.StringIO()
    configure_logging("info", stream=out, json=True)
    try:
        bridge.services.mailbox = BrokenMailbox()  # type: ignore[assignment]
        assert "ingest" in bridge.cycle(T0).errors
        mailbox.fail = True
        bridge.services.mailbox = mailbox  # type: ignore[assignment]
        assert "ingest" in bridge.cycle(T0 + timedelta(minutes=1)).errors
    finally:
        structlog.reset_defaults()
    failures = [json.loads(line) for line in out.getvalue().splitlines()
                if '"stage_failed"' in line]
    assert failures[0]["error"] == "KeyError: 'x'" and "fetch_new" in failures[0]["exception"]
    assert failures[1]["error"] == "TransientError: imap down" and "exception" not in failures[1]


class BrokenMailbox(ListMailbox):
    def fetch_new(self, cursor: Cursor | None) -> Iterator[FetchBatch]:
        raise KeyError("x")


@dataclass
class NoSender:
    sent: list[bytes] = field(default_factory=list)

    def send(self, raw: bytes, from_addr: str, to_addrs: Sequence[str]) -> None:
        self.sent.append(raw)


def test_the_relay_token_key_is_read_once_not_every_cycle(tmp_path: Path) -> None:
    """Issue 9: the relay stage re-read the key each cycle: with a {command} secret it ran the
    command (and took a write lock) every cycle."""
    runs = tmp_path / "runs"
    script = tmp_path / "token"
    script.write_text(f"#!/bin/sh\necho run >> {runs}\necho relay-token-secret\n")
    script.chmod(0o700)
    relay = RelaySettings(from_address="bridge@bridge.example.net",
                          list_address="list@lists.example.org", admin_contact="admin@example.net",
                          token_secret=SecretRef("command", (str(script),)))
    config = Config(matcher=MatcherSettings(unanswered_after=timedelta(minutes=10)), relay=relay)
    bridge = Bridge(config, Store.open(tmp_path / "b.sqlite3"),
                    Services(mailbox=ListMailbox(), sender=NoSender()))
    for minute in range(5):
        assert bridge.cycle(T0 + timedelta(minutes=minute)).ok
    assert runs.read_text().splitlines() == ["run"]


def test_ingest_times_come_from_the_injected_clock_not_the_wall_clock(tmp_path: Path) -> None:
    """Issue 9: messages were stamped with time.time() while the mass-new guard compared that with
    due times from the injected `now`: on any clock but the wall clock, questions the bridge saw
    coming were held as surprises."""
    bridge, mailbox, _ = make_bridge(tmp_path)
    mailbox.delivered.extend(question(n, T0) for n in range(1, 8))  # more than the guard's 5
    bridge.cycle(T0)
    report = bridge.cycle(T0 + timedelta(minutes=10, seconds=1))
    assert report.published == 1 and bridge.store.count_status("posts", "held") == 0
    stamped = bridge.store.conn.execute(
        "SELECT MIN(ingested_at), MAX(ingested_at) FROM messages").fetchone()
    assert tuple(stamped) == (to_epoch(T0), to_epoch(T0))
