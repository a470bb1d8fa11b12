"""Publishing exactly once (bridge.stages.publish) against the fake X API over real HTTP and real SQLite."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fake_x import CREATE, FakeX
from structlog.testing import capture_logs

import bridge.store.migrations
from bridge.adapters.x_account import XPublisher
from bridge.adapters.x_client import XClient
from bridge.cli.release import run_release
from bridge.compose.post import Draft
from bridge.decide.caps import PublishSettings
from bridge.decide.matcher import Decision
from bridge.decide.planner import Plan
from bridge.model import Author, Mail, ThreadView
from bridge.stages.publish import (
    posted_roots,
    posting_state,
    posts_today,
    publish_due,
    reconcile_pending,
    release_held,
    resume_posting,
    spend_this_month,
)
from bridge.store.db import Store

MIGRATIONS = Path(bridge.store.migrations.__file__).parent
KEYS = {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "bot-token",
        "access_token_secret": "ats"}
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon
OPEN = PublishSettings(max_per_hour=100, max_per_day=100, min_spacing=timedelta(0),
                       monthly_budget_usd=1000.0, mass_new_threshold=0)


@dataclass
class Clock:
    now: datetime = T0


@dataclass
class World:
    fake: FakeX
    clock: Clock
    db: Path

    def publisher(self, *, timeout: float = 2.0, token: str = "bot-token") -> XPublisher:
        keys = KEYS | {"access_token": token}
        return XPublisher(XClient(api_base_url=self.fake.base_url, timeout=timeout, **keys))

    def store(self) -> Store:
        return Store.open(self.db)

    def creates(self) -> list[str]:
        return [r.json["text"] for r in self.fake.requests if r.method == "POST"]

    def posts(self) -> list[tuple[str, str]]:
        return [(p.id, p.source_text) for p in self.fake.posts_by(self.fake.user("listbridge"))]

    def count(self, path_part: str) -> int:
        return sum(1 for r in self.fake.requests if path_part in r.path)

    def reads(self) -> int:
        return sum(1 for r in self.fake.requests if r.method == "GET")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = Clock()
    fake = FakeX(clock=lambda: clock.now)
    fake.add_user("listbridge", "List Bridge", access_token="bot-token")
    fake.start()
    yield World(fake, clock, tmp_path / "state.sqlite3")
    fake.stop()


def plan(n: int, now: datetime = T0) -> Plan:
    root_id = f"q{n}@lists.example.org"
    link = f"https://lists.example.org/archives/msg/q{n}"
    root = Mail(root_id, f"Question {n}", f"question {n}", False, Author("Ann", "ann@example.org"),
                now - timedelta(days=2), None, ())
    text = f"Unanswered on the list: question number {n}? {link}"
    return Plan(ThreadView(n, root, (root,)), Decision(root_id, True, "due", now),
                Draft(root_id, text, len(text), link), "due", now)


def held_plan(n: int, now: datetime = T0) -> Plan:
    base = plan(n, now)
    decision = replace(base.decision, outcome="hold", evidence=("FIRST_TIME_SENDER=-1.0",))
    return replace(base, decision=decision)


def test_a_held_question_becomes_a_held_row_with_its_evidence_and_is_never_posted(
    world: World,
) -> None:
    store = world.store()
    report = publish_due(store, [held_plan(1), plan(2)], world.publisher(), OPEN, T0)
    assert report.held == ["q1@lists.example.org"] and len(world.posts()) == 1
    row = store.conn.execute("SELECT status, reason FROM posts WHERE root_id = ?",
                             ("q1@lists.example.org",)).fetchone()
    assert tuple(row) == ("held", "moderation: FIRST_TIME_SENDER=-1.0")
    again = publish_due(store, [held_plan(1)], world.publisher(), OPEN, T0 + timedelta(hours=1))
    assert again.held == [] and len(world.posts()) == 1  # one row, held once, still not posted


def status_of(store: Store, root_id: str) -> tuple[str, str | None]:
    row = store.conn.execute("SELECT status, post_id FROM posts WHERE root_id = ?",
                             (root_id,)).fetchone()
    return (row[0], row[1]) if row else ("", None)


def test_happy_path_posts_the_draft_text_and_confirms_the_row_with_the_post_id(world: World) -> None:
    store, p = world.store(), plan(1)
    with capture_logs() as logs:
        report = publish_due(store, [p], world.publisher(), OPEN, T0)
    [(post_id, text)] = world.posts()
    assert report.published == [(p.draft.root_id, post_id)]  # type: ignore[union-attr]
    assert text == p.draft.text  # type: ignore[union-attr]
    assert status_of(store, "q1@lists.example.org") == ("confirmed", post_id)
    assert posted_roots(store) == {"q1@lists.example.org"}
    assert any(e["event"] == "post_published" and e["post_id"] == post_id for e in logs)
    assert publish_due(store, [p], world.publisher(), OPEN, T0).published == []  # never twice


def test_timeout_after_x_committed_leaves_pending_and_reconcile_finds_it_without_a_second_post(
    world: World,
) -> None:
    store = world.store()
    world.fake.drop_after_commit_next(stall=5.0)
    report = publish_due(store, [plan(1)], world.publisher(timeout=0.5), OPEN, T0)
    assert report.pending == ["q1@lists.example.org"] and report.published == []
    assert status_of(store, "q1@lists.example.org") == ("pending", None)
    rec = reconcile_pending(store, world.publisher(), OPEN, T0 + timedelta(minutes=1))
    [(post_id, _)] = world.posts()
    assert rec.confirmed == [("q1@lists.example.org", post_id)]
    assert status_of(store, "q1@lists.example.org") == ("confirmed", post_id)
    assert len(world.creates()) == 1


def test_5xx_before_commit_is_retried_exactly_once_after_the_reconcile_window(world: World) -> None:
    store, settings = world.store(), OPEN
    world.fake.fail_next(CREATE, 503)
    assert publish_due(store, [plan(1)], world.publisher(), settings, T0).pending == [
        "q1@lists.example.org"]
    assert reconcile_pending(store, world.publisher(), settings, T0).waiting == [
        "q1@lists.example.org"]
    lookups = world.reads()
    later = T0 + timedelta(hours=1)  # inside the window: not even looked up again
    assert reconcile_pending(store, world.publisher(), settings, later).waiting == []
    assert publish_due(store, [], world.publisher(), settings, later).published == []
    assert world.reads() == lookups
    end = T0 + settings.reconcile_window
    world.clock.now = end
    assert reconcile_pending(store, world.publisher(), settings, end).requeued == [
        "q1@lists.example.org"]
    report = publish_due(store, [], world.publisher(), settings, end)
    [(post_id, text)] = world.posts()
    assert report.published == [("q1@lists.example.org", post_id)]
    assert world.creates() == [plan(1).draft.text] * 2  # type: ignore[union-attr]
    assert text == plan(1).draft.text  # type: ignore[union-attr]
    assert publish_due(store, [], world.publisher(), settings, end + timedelta(hours=3)).published == []


def test_duplicate_content_403_is_reconciled_to_the_existing_post_and_the_text_never_altered(
    world: World,
) -> None:
    store, p = world.store(), plan(1)
    earlier = world.fake.add_post(world.fake.user("listbridge"), p.draft.text,  # type: ignore[union-attr]
                                  created_at=T0 - timedelta(hours=5))
    report = publish_due(store, [p], world.publisher(), OPEN, T0)
    assert report.published == [("q1@lists.example.org", earlier.id)]
    assert status_of(store, "q1@lists.example.org") == ("confirmed", earlier.id)
    assert world.creates() == [p.draft.text]  # type: ignore[union-attr]
    assert len(world.posts()) == 1


def test_duplicate_without_a_post_carrying_our_link_fails_loudly_and_is_not_reworded(
    world: World,
) -> None:
    store, p = world.store(), plan(1)
    assert p.draft is not None
    world.fake.add_post(world.fake.user("listbridge"), p.draft.text, created_at=T0 - timedelta(days=9))
    with capture_logs() as logs:
        report = publish_due(store, [p], world.publisher(), OPEN, T0)
    assert [root for root, _ in report.failed] == ["q1@lists.example.org"]
    assert status_of(store, "q1@lists.example.org") == ("failed", None)
    assert world.creates() == [p.draft.text]
    assert any(e["event"] == "post_duplicate_unmatched" and e["log_level"] == "error" for e in logs)


def test_429_schedules_the_retry_at_the_reset_and_sends_nothing_before_it(world: World) -> None:
    store = world.store()
    reset = T0 + timedelta(minutes=12)
    world.fake.rate_limit_next(CREATE, reset_at=int(reset.timestamp()))
    report = publish_due(store, [plan(1), plan(2)], world.publisher(), OPEN, T0)
    assert report.queued == ["q1@lists.example.org"] and report.next_attempt_at == reset
    for minutes in (0, 1, 6, 11):
        early = T0 + timedelta(minutes=minutes)
        assert publish_due(store, [plan(2)], world.publisher(), OPEN, early).next_attempt_at == reset
    assert len(world.creates()) == 1
    report = publish_due(store, [plan(2)], world.publisher(), OPEN, reset)
    assert [root for root, _ in report.published] == ["q1@lists.example.org", "q2@lists.example.org"]
    assert len(world.creates()) == 3 and len(world.posts()) == 2


def test_429_with_a_spent_24_hour_window_waits_for_the_daily_reset(world: World) -> None:
    store = world.store()
    window, day = T0 + timedelta(minutes=15), T0 + timedelta(hours=9)
    world.fake.rate_limit_next(CREATE, reset_at=int(window.timestamp()),
                               user_24h_reset=int(day.timestamp()))
    assert publish_due(store, [plan(1)], world.publisher(), OPEN, T0).next_attempt_at == day
    assert publish_due(store, [], world.publisher(), OPEN, window).published == []
    assert len(world.creates()) == 1


@pytest.mark.parametrize("bad", ["token", "403"])
def test_auth_failure_suspends_posting_persistently_until_credentials_check_out(
    world: World, bad: str,
) -> None:
    store = world.store()
    if bad == "403":
        world.fake.fail_next(CREATE, 403)
        broken = world.publisher()
    else:
        broken = world.publisher(token="revoked-token")
    with capture_logs() as logs:
        report = publish_due(store, [plan(1)], broken, OPEN, T0)  # does not raise
    assert report.suspended.startswith("posting suspended: auth failed")
    assert any(e["event"] == "posting_suspended" and e["log_level"] == "error" for e in logs)
    assert status_of(store, "q1@lists.example.org") == ("queued", None)  # nothing lost
    store.close()
    store, seen = world.store(), len(world.fake.requests)  # a restart keeps the suspension
    assert posting_state(store).suspended_reason.startswith("posting suspended: auth failed")
    assert publish_due(store, [plan(2)], world.publisher(), OPEN, T0).suspended
    assert reconcile_pending(store, world.publisher(), OPEN, T0).suspended
    assert len(world.fake.requests) == seen  # suspended: X is not called at all
    assert resume_posting(store, world.publisher(token="revoked-token"), T0) is False
    assert resume_posting(store, world.publisher(), T0) is True
    assert posting_state(store).suspended_reason == ""
    report = publish_due(store, [plan(2)], world.publisher(), OPEN, T0)
    assert [r for r, _ in report.published] == ["q1@lists.example.org", "q2@lists.example.org"]


def test_refused_connection_is_surely_unsent_so_the_row_is_queued_not_pending(
    world: World, tmp_path: Path,
) -> None:
    store = world.store()
    dead = XPublisher(XClient(api_base_url="http://127.0.0.1:9", timeout=1.0, **KEYS))
    report = publish_due(store, [plan(1)], dead, OPEN, T0)
    assert report.queued == ["q1@lists.example.org"] and report.pending == []
    assert status_of(store, "q1@lists.example.org") == ("queued", None)
    assert publish_due(store, [], world.publisher(), OPEN, T0 + timedelta(minutes=1)).published == []
    report = publish_due(store, [], world.publisher(), OPEN, T0 + timedelta(minutes=5))
    assert [r for r, _ in report.published] == ["q1@lists.example.org"]


def test_a_permanently_refused_post_is_failed_and_the_next_one_still_goes_out(world: World) -> None:
    store = world.store()
    world.fake.fail_next(CREATE, 400)
    report = publish_due(store, [plan(1), plan(2)], world.publisher(), OPEN, T0)
    assert [r for r, _ in report.failed] == ["q1@lists.example.org"]
    assert [r for r, _ in report.published] == ["q2@lists.example.org"]
    assert "q1@lists.example.org" in posted_roots(store)  # never proposed again


def test_spacing_cap_posts_one_writes_nothing_for_the_rest_and_names_the_next_slot(
    world: World,
) -> None:
    store = world.store()
    settings = replace(OPEN, min_spacing=timedelta(minutes=20))
    report = publish_due(store, [plan(1), plan(2), plan(3)], world.publisher(), settings, T0)
    assert [r for r, _ in report.published] == ["q1@lists.example.org"]
    assert report.next_attempt_at == T0 + timedelta(minutes=20)
    assert report.blocked == "minimum spacing"
    assert posted_roots(store) == {"q1@lists.example.org"}


def test_hourly_and_daily_caps_hold_back_posts(world: World) -> None:
    store = world.store()
    settings = replace(OPEN, max_per_hour=2, max_per_day=3)
    plans = [plan(n) for n in range(1, 6)]
    assert len(publish_due(store, plans, world.publisher(), settings, T0).published) == 2
    hour = publish_due(store, plans, world.publisher(), settings, T0 + timedelta(minutes=59))
    assert hour.published == [] and hour.next_attempt_at == T0 + timedelta(hours=1)
    later = T0 + timedelta(hours=1)
    assert len(publish_due(store, plans, world.publisher(), settings, later).published) == 1
    day = publish_due(store, plans, world.publisher(), settings, T0 + timedelta(hours=3))
    assert day.next_attempt_at == datetime(2026, 3, 3, tzinfo=UTC) and day.blocked == "3 posts per day"
    assert posts_today(store, T0 + timedelta(hours=3), UTC) == 3


def test_quiet_hours_in_the_admins_zone_hold_posts_until_they_end(world: World) -> None:
    store = world.store()
    settings = replace(OPEN, quiet_hours="22:00-07:00", timezone="America/New_York")
    night = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)  # 22:30 in New York (EST, UTC-5)
    report = publish_due(store, [plan(1)], world.publisher(), settings, night)
    assert report.published == [] and report.blocked == "quiet hours"
    assert report.next_attempt_at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 07:00 EST
    assert world.creates() == []


def test_monthly_budget_stops_posting_until_next_month(world: World) -> None:
    store = world.store()
    settings = replace(OPEN, monthly_budget_usd=0.5, timezone="Europe/London")
    report = publish_due(store, [plan(n) for n in range(1, 5)], world.publisher(), settings, T0)
    assert len(report.published) == 2  # 2 x $0.20; a third would pass $0.50
    assert report.next_attempt_at == datetime(2026, 4, 1, tzinfo=ZoneInfo("Europe/London"))
    assert report.blocked.startswith("monthly budget $0.50")
    assert spend_this_month(store, T0, settings) == pytest.approx(0.40)
    assert spend_this_month(store, datetime(2026, 4, 1, 9, tzinfo=UTC), settings) == 0.0


def test_mass_new_guard_holds_everything_and_release_sends_within_caps(world: World) -> None:
    store = world.store()
    settings = replace(OPEN, mass_new_threshold=3, max_per_hour=2)
    plans = [plan(n) for n in range(1, 5)]
    report = publish_due(store, plans, world.publisher(), settings, T0)
    assert sorted(report.held) == [p.draft.root_id for p in plans]  # type: ignore[union-attr]
    assert world.fake.requests == [] and posted_roots(store) == set(report.held)
    reason = store.conn.execute("SELECT reason FROM posts WHERE status = 'held' LIMIT 1").fetchone()
    assert reason[0].startswith("mass-new guard: 4 threads were already due when they arrived")
    assert publish_due(store, [], world.publisher(), settings, T0).published == []
    assert release_held(store, ["q3@lists.example.org", "nope@x"], T0) == ["q3@lists.example.org"]
    later = T0 + timedelta(minutes=1)
    assert [r for r, _ in publish_due(store, [], world.publisher(), settings, later).published] == [
        "q3@lists.example.org"]
    assert len(release_held(store, "all", later)) == 3
    report = publish_due(store, [], world.publisher(), settings, later)
    assert len(report.published) == 1 and report.blocked == "2 posts per hour"
    assert len(world.posts()) == 2


def test_dry_run_never_calls_x_and_logs_the_exact_text(world: World) -> None:
    store = world.store()
    settings = replace(OPEN, dry_run=True, max_per_hour=1)
    with capture_logs() as logs:
        report = publish_due(store, [plan(1), plan(2)], world.publisher(), settings, T0)
        reconcile_pending(store, world.publisher(), settings, T0)
    assert report.dry_run == ["q1@lists.example.org"] and report.blocked == "1 posts per hour"
    assert status_of(store, "q1@lists.example.org") == ("dry_run", None)
    assert world.fake.requests == []
    text = plan(1).draft.text  # type: ignore[union-attr]
    assert any(e["event"] == "post_dry_run" and e["text"] == text for e in logs)


def test_publishing_refuses_to_run_inside_an_open_transaction(world: World) -> None:
    store = world.store()
    with store.transaction(), pytest.raises(RuntimeError):
        publish_due(store, [plan(1)], world.publisher(), OPEN, T0)
    assert world.fake.requests == []


# -- crash safety: a kill at each durable step, then a restart over the same database --------
class KillBeforeCall:
    def __init__(self, inner: XPublisher) -> None:
        self.inner = inner

    def publish(self, text: str) -> str:
        raise SystemExit("killed after the pending row, before the call")

    def find_post(self, link: str, since: datetime) -> str | None:
        return self.inner.find_post(link, since)

    def check_auth(self) -> str:
        return self.inner.check_auth()


class KillAfterCall(KillBeforeCall):
    def publish(self, text: str) -> str:
        self.inner.publish(text)  # X committed the post
        raise SystemExit("killed before the confirmation was written")


def test_kill_between_pending_row_and_call_posts_once_after_restart(world: World) -> None:
    with pytest.raises(SystemExit):
        publish_due(world.store(), [plan(1)], KillBeforeCall(world.publisher()), OPEN, T0)
    store = world.store()  # restart: new objects, same file
    assert status_of(store, "q1@lists.example.org") == ("pending", None)
    assert reconcile_pending(store, world.publisher(), OPEN, T0).waiting == ["q1@lists.example.org"]
    assert publish_due(store, [plan(1)], world.publisher(), OPEN, T0).published == []
    end = T0 + OPEN.reconcile_window
    world.clock.now = end
    assert reconcile_pending(store, world.publisher(), OPEN, end).requeued == ["q1@lists.example.org"]
    publish_due(store, [plan(1)], world.publisher(), OPEN, end)
    [(post_id, _)] = world.posts()
    assert status_of(store, "q1@lists.example.org") == ("confirmed", post_id)
    assert len(world.creates()) == 1


def test_kill_between_successful_call_and_confirmation_is_reconciled_without_reposting(
    world: World,
) -> None:
    with pytest.raises(SystemExit):
        publish_due(world.store(), [plan(1), plan(2)], KillAfterCall(world.publisher()), OPEN, T0)
    store = world.store()
    report = reconcile_pending(store, world.publisher(), OPEN, T0 + timedelta(seconds=30))
    [(post_id, _)] = world.posts()
    assert report.confirmed == [("q1@lists.example.org", post_id)]
    publish_due(store, [plan(1), plan(2)], world.publisher(), OPEN, T0 + timedelta(minutes=1))
    assert sorted(text for _, text in world.posts()) == sorted(
        p.draft.text for p in (plan(1), plan(2)))  # type: ignore[union-attr]
    assert len(world.creates()) == 2
    assert {status_of(store, r)[0] for r in posted_roots(store)} == {"confirmed"}


def test_reconcile_checks_me_once_and_reads_own_posts_since_the_row_was_written(
    world: World,
) -> None:
    store = world.store()
    world.fake.fail_next(CREATE, 502, count=2)
    publish_due(store, [plan(1)], world.publisher(), OPEN, T0)
    publish_due(store, [plan(2)], world.publisher(), OPEN, T0 + timedelta(minutes=3))
    publisher = world.publisher()
    reconcile_pending(store, publisher, OPEN, T0 + timedelta(minutes=4))
    assert world.count("/users/me") == 1 and world.count("/2/users/") == 3
    start = [r.query["start_time"] for r in world.fake.requests if r.path.endswith("/tweets")
             and r.method == "GET"]
    assert start == ["2026-03-02T11:50:00Z", "2026-03-02T11:53:00Z"]


# -- status, the admin's release command, the migration ---------------------------------------
def test_spend_and_posts_today_count_sent_posts_in_the_local_calendar(world: World) -> None:
    store = world.store()
    settings = replace(OPEN, timezone="Asia/Tokyo")
    tokyo = ZoneInfo("Asia/Tokyo")
    late_feb = datetime(2026, 2, 28, 23, 30, tzinfo=tokyo)
    early_mar = datetime(2026, 3, 1, 0, 30, tzinfo=tokyo)  # still February in UTC
    publish_due(store, [plan(1)], world.publisher(), settings, late_feb)
    publish_due(store, [plan(2)], world.publisher(), settings, early_mar)
    world.fake.fail_next(CREATE, 503)
    publish_due(store, [plan(3)], world.publisher(), settings, early_mar)  # pending: maybe billed
    world.fake.fail_next(CREATE, 400)
    publish_due(store, [plan(4)], world.publisher(), settings, early_mar)  # failed: not billed
    publish_due(store, [plan(5)], world.publisher(), replace(settings, dry_run=True), early_mar)
    assert spend_this_month(store, early_mar, settings) == pytest.approx(0.40)
    assert spend_this_month(store, late_feb, settings) == pytest.approx(0.20)
    assert posts_today(store, early_mar, tokyo) == 2
    assert posts_today(store, early_mar, UTC) == 3  # 28 Feb in UTC


def test_run_release_lists_held_posts_then_releases_named_ones(world: World) -> None:
    store = world.store()
    publish_due(store, [plan(n) for n in range(1, 4)], world.publisher(),
                replace(OPEN, mass_new_threshold=2), T0)
    store.close()
    listing = io.StringIO()
    assert run_release(str(world.db), [], False, listing, now=T0) == 0
    assert listing.getvalue().count("mass-new guard") == 3
    assert listing.getvalue().endswith("3 held post(s)\n")
    out = io.StringIO()
    assert run_release(str(world.db), ["q2@lists.example.org", "q9@x"], False, out, now=T0) == 1
    assert out.getvalue() == ("not held: q9@x\n"
                              "released 1 post(s); they go out within the caps\n")
    assert run_release(str(world.db), [], True, io.StringIO(), now=T0) == 0
    store = world.store()
    assert {status_of(store, f"q{n}@lists.example.org")[0] for n in (1, 2, 3)} == {"queued"}


def test_migration_004_keeps_existing_posts_and_counts_them_as_sent(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    for name in ("001_initial.sql", "002_posts.sql", "003_replies.sql"):
        conn.executescript((MIGRATIONS / name).read_text(encoding="utf-8"))
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO posts(root_id, status, text, link, post_id, created_at) "
                 "VALUES ('old@x', 'confirmed', 'old post', 'https://l.example/1', '77', ?)",
                 (int(T0.timestamp()),))
    conn.commit()
    conn.close()
    store = Store.open(db)
    assert status_of(store, "old@x") == ("confirmed", "77")
    assert posts_today(store, T0, UTC) == 1 and posted_roots(store) == {"old@x"}
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO posts(root_id, status, text, link, created_at) "
                           "VALUES ('b', 'bogus', '', '', 0)")


def test_a_429_whose_reset_is_already_past_retries_soon_not_in_15_minutes() -> None:
    from bridge.errors import RateLimited
    from bridge.stages.publish import RATE_LIMIT_FALLBACK, RATE_LIMIT_PAST_RESET, _rate_limit_until

    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert _rate_limit_until(RateLimited("429", reset_at=now + timedelta(minutes=3)), now) == (
        now + timedelta(minutes=3))
    assert _rate_limit_until(RateLimited("429", reset_at=now + timedelta(seconds=3)), now) == (
        now + timedelta(seconds=3))  # a reset 3 s away costs 3 s, not the past-reset pause
    assert _rate_limit_until(RateLimited("429", reset_at=now - timedelta(seconds=5)), now) == (
        now + RATE_LIMIT_PAST_RESET)
    assert _rate_limit_until(RateLimited("429", reset_at=None), now) == now + RATE_LIMIT_FALLBACK


def test_a_backlog_the_bridge_saw_coming_is_not_held_by_the_mass_new_guard(world: World) -> None:
    """Six questions stored long before they fell due (say, during quiet hours) are no surprise;
    only questions first stored after their due time count towards the guard."""
    from bridge.store.mail import MailStore

    store = world.store()
    settings = replace(OPEN, mass_new_threshold=3)
    plans = [plan(n) for n in range(1, 7)]
    ms = MailStore(store)
    with store.transaction():
        for p in plans:
            ms.add_mail(p.thread.root, "test")
        ms.flush()
        due = plans[0].decision.due_at
        assert due is not None
        store.conn.execute("UPDATE messages SET ingested_at = ?", (int(due.timestamp()) - 3600,))
    report = publish_due(store, plans, world.publisher(), settings, T0)
    assert report.held == [] and len(report.published) == 6
