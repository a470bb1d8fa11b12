"""Reply polling (bridge.stages.replies) against the fake X API over real HTTP with the real SQLite store:
stored once, cursors moving with the rows, windows, spacing, budget, rate limits and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_x import MENTIONS, SEARCH, FakePost, FakeUser, FakeX

from bridge.adapters.x_client import XClient
from bridge.config.policy import read_replies
from bridge.config.reader import Section
from bridge.config.sections import ReplySettings
from bridge.decide.moderation import ModerationSettings
from bridge.errors import AuthError
from bridge.model import XPost
from bridge.stages.replies import PollReport, poll_replies, reply_text
from bridge.store.db import Store, to_epoch

TOKEN = "oauth2-user-token-replies"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SETTINGS = ReplySettings()
OPEN = ModerationSettings(mode="open")
ANSWER = "Try the Hollinger catalogue, their boxes are acid free."


@pytest.fixture
def fake() -> Iterator[FakeX]:
    server = FakeX(clock=lambda: T0)
    server.add_user("listbridge", "List Bridge", created_at=T0 - timedelta(days=30),
                    user_token=TOKEN)
    server.add_user("jane", "Jane Doe", created_at=T0 - timedelta(days=900))
    server.add_user("bob", "Bob Roe", created_at=T0 - timedelta(days=400))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


def bot(fake: FakeX) -> FakeUser:
    return fake.user("listbridge")


def x(fake: FakeX) -> XClient:
    return XClient(api_base_url=fake.base_url, oauth2_user_token=TOKEN, timeout=5.0)


def our_post(fake: FakeX, db: Path, root_id: str, at: datetime = T0) -> str:
    """A post of ours on X and its 'confirmed' row, as the publisher leaves them."""
    link = f"https://lists.example.org/msg/{root_id}"
    post = fake.add_post(bot(fake), f"Unanswered on the list: {root_id} {link}", created_at=at)
    store = Store.open(db)
    with store.transaction() as conn:
        conn.execute("INSERT INTO posts(root_id, status, text, link, post_id, created_at, "
                     "confirmed_at) VALUES (?, 'confirmed', ?, ?, ?, ?, ?)",
                     (root_id, post.text, link, post.id, to_epoch(at), to_epoch(at)))
    store.close()
    return post.id


def poll(fake: FakeX, db: Path, now: datetime, settings: ReplySettings = SETTINGS,
         moderation: ModerationSettings = OPEN) -> PollReport:
    """One poll as the daemon runs it: fresh objects over the same database file."""
    store = Store.open(db)
    try:
        return poll_replies(store, x(fake), bot(fake).id, settings, moderation, now)
    finally:
        store.close()


def rows(db: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    store = Store.open(db)
    try:
        return [tuple(r) for r in store.conn.execute(sql, args)]
    finally:
        store.close()


def stored(db: Path) -> list[tuple[object, ...]]:
    return rows(db, "SELECT reply_id, root_id, post_id, status FROM replies ORDER BY reply_id")


def cursors(db: Path) -> dict[object, object]:
    return dict(rows(db, "SELECT source, since_id FROM reply_cursors"))


def reads_of(fake: FakeX) -> list[str]:
    return [r.path for r in fake.requests if r.method == "GET"]


# -- stored once, mapped to its thread --------------------------------------------------------
def test_a_reply_to_our_post_is_stored_once_across_repeated_polls(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    reply = fake.add_reply(post_id, fake.user("jane"), ANSWER)
    first = poll(fake, db, T0 + timedelta(hours=1))
    assert first.polled and first.stored == {"approved": 1} and first.duplicates == 1  # both sources
    for hours in (2, 3):
        again = poll(fake, db, T0 + timedelta(hours=hours))
        assert again.polled and again.stored == {} and again.reads == 0
    assert stored(db) == [(reply.id, "q1@lists.example.org", post_id, "approved")]
    row = rows(db, "SELECT author_username, author_name, author_created_at, text, url, created_at "
                   "FROM replies")[0]
    assert row == ("jane", "Jane Doe", to_epoch(T0 - timedelta(days=900)),
                   f"@listbridge {ANSWER}", f"https://x.com/jane/status/{reply.id}", to_epoch(T0))


def test_since_ids_advance_and_the_next_poll_asks_only_for_newer_posts(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    first = fake.add_reply(post_id, fake.user("jane"), ANSWER)
    poll(fake, db, T0 + timedelta(hours=1))
    assert cursors(db) == {"mentions": first.id, f"search:{post_id}": first.id}
    second = fake.add_reply(post_id, fake.user("bob"), "The county archive sells them as well.")
    poll(fake, db, T0 + timedelta(hours=2))
    asked = [r.query["since_id"] for r in fake.requests if r.method == "GET"]
    assert asked == [post_id, post_id, first.id, first.id]  # first poll starts at our post's id
    assert cursors(db) == {"mentions": second.id, f"search:{post_id}": second.id}
    assert [r[0] for r in stored(db)] == [first.id, second.id]


def test_replies_map_to_their_own_thread_and_search_finds_replies_to_replies(
    fake: FakeX, db: Path,
) -> None:
    p1 = our_post(fake, db, "q1@lists.example.org")
    p2 = our_post(fake, db, "q2@lists.example.org")
    jane, bob = fake.user("jane"), fake.user("bob")
    r1 = fake.add_reply(p1, jane, ANSWER)
    r2 = fake.add_reply(p2, bob, "Ask the state library, they lend scanners.")
    nested = fake.add_reply(r1.id, bob, "Seconding Hollinger, used them for years.")  # @jane only
    poll(fake, db, T0 + timedelta(hours=1), ReplySettings(use_search=False))
    assert {r[0]: r[1] for r in stored(db)} == {r1.id: "q1@lists.example.org",
                                               r2.id: "q2@lists.example.org"}
    poll(fake, db, T0 + timedelta(hours=2))
    assert {r[0]: r[1] for r in stored(db)}[nested.id] == "q1@lists.example.org"


def test_own_posts_retweets_and_replies_to_unrelated_posts_are_ignored(
    fake: FakeX, db: Path,
) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    jane, bob = fake.user("jane"), fake.user("bob")
    real = fake.add_reply(post_id, jane, ANSWER)
    fake.add_reply(real.id, bot(fake), "Thanks, we will pass this on to the list.")  # ours
    other = fake.add_post(bob, "@listbridge unrelated: do you relay job adverts?")
    fake.add_reply(other.id, jane, "@listbridge I would like to know that too, please")
    retweet: FakePost = fake.add_post(jane, f"RT @listbridge: Unanswered on the list {post_id}")
    retweet.referenced = [("retweeted", post_id)]  # the fake has no retweet call: shape it as X
    retweet.conversation_id = post_id
    report = poll(fake, db, T0 + timedelta(hours=1))
    assert [r[0] for r in stored(db)] == [real.id]
    # the other post, the reply to it, the retweet (mentions) and our own reply (search)
    assert report.ignored == 4


def test_a_post_outside_its_reply_window_is_not_polled(fake: FakeX, db: Path) -> None:
    old = our_post(fake, db, "old@lists.example.org", at=T0 - timedelta(days=8))
    fake.add_reply(old, fake.user("jane"), ANSWER, created_at=T0 - timedelta(days=7, hours=20))
    report = poll(fake, db, T0)
    assert (report.polled, report.reason) == (False, "no post within its reply window")
    assert reads_of(fake) == [] and stored(db) == []
    fresh = our_post(fake, db, "new@lists.example.org")
    poll(fake, db, T0 + timedelta(minutes=5))
    searched = [r.query["query"] for r in fake.requests if r.path.endswith("/search/recent")]
    assert searched == [f"conversation_id:{fresh}"]
    assert stored(db) == []  # the late reply to the old post is not taken


# -- spacing, budget, rate limits ---------------------------------------------------------------
def test_polls_are_spaced_by_the_minimum_interval_without_calling_x(fake: FakeX, db: Path) -> None:
    our_post(fake, db, "q1@lists.example.org")
    first = poll(fake, db, T0)
    assert first.polled and first.next_poll_at == T0 + timedelta(minutes=15)
    calls = len(fake.requests)
    early = poll(fake, db, T0 + timedelta(minutes=14, seconds=59))
    assert (early.polled, early.reason, early.next_poll_at) == \
        (False, "not due: minimum poll interval", T0 + timedelta(minutes=15))
    assert len(fake.requests) == calls
    assert poll(fake, db, T0 + timedelta(minutes=15)).polled


def test_a_spent_read_budget_stops_polling_until_reads_age_out(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    for n in range(3):
        fake.add_reply(post_id, fake.user("jane"), f"{ANSWER} ({n})")
    budget = ReplySettings(daily_read_budget=5, use_search=False)
    first = poll(fake, db, T0 + timedelta(hours=1), budget)
    assert first.reads == 3 and first.next_poll_at == T0 + timedelta(hours=1, minutes=15)
    fake.add_reply(post_id, fake.user("bob"), f"{ANSWER} (bob)")
    fake.add_reply(post_id, fake.user("bob"), f"{ANSWER} (bob again)")
    second = poll(fake, db, T0 + timedelta(hours=2), budget)
    assert second.reads == 2 and second.next_poll_at == T0 + timedelta(days=1, hours=1)
    calls = len(fake.requests)
    late = poll(fake, db, T0 + timedelta(hours=20), budget)
    assert (late.polled, late.next_poll_at) == (False, T0 + timedelta(days=1, hours=1))
    assert late.reason == "not due: read budget spent (5 posts in 24h)"
    assert len(fake.requests) == calls
    assert poll(fake, db, T0 + timedelta(days=1, hours=1), budget).polled


def test_429_schedules_the_next_poll_after_the_reset_and_loses_nothing(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    reply = fake.add_reply(post_id, fake.user("jane"), ANSWER)
    reset = T0 + timedelta(minutes=40)
    fake.rate_limit_next(MENTIONS, reset_at=to_epoch(reset))
    limited = poll(fake, db, T0)
    assert limited.polled and limited.reason == "rate limited until 2026-03-02 09:40:00 UTC"
    assert limited.next_poll_at == reset and stored(db) == [] and cursors(db) == {}
    calls = len(fake.requests)
    assert poll(fake, db, T0 + timedelta(minutes=39)).reason == "not due: rate limited by X"
    assert len(fake.requests) == calls
    assert poll(fake, db, reset).stored == {"approved": 1}
    assert [r[0] for r in stored(db)] == [reply.id]


def test_429_on_search_keeps_what_mentions_read_and_only_that_cursor_moves(
    fake: FakeX, db: Path,
) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    reply = fake.add_reply(post_id, fake.user("jane"), ANSWER)
    fake.rate_limit_next(SEARCH, reset_at=to_epoch(T0 + timedelta(minutes=20)))
    report = poll(fake, db, T0)
    assert report.stored == {"approved": 1} and cursors(db) == {"mentions": reply.id}
    later = poll(fake, db, T0 + timedelta(minutes=20))
    assert later.duplicates == 1 and later.stored == {}
    assert cursors(db) == {"mentions": reply.id, f"search:{post_id}": reply.id}


def test_a_5xx_is_reported_and_retried_at_the_next_interval(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    fake.add_reply(post_id, fake.user("jane"), ANSWER)
    fake.fail_next(MENTIONS, 503)
    report = poll(fake, db, T0)
    assert report.reason.startswith("failed: X mentions: HTTP 503")
    assert report.next_poll_at == T0 + timedelta(minutes=15)
    assert report.calls == 1 and stored(db) == []  # the first failure ends the poll
    assert rows(db, "SELECT outcome FROM reply_polls") == [("failed",)]
    assert poll(fake, db, T0 + timedelta(minutes=15)).stored == {"approved": 1}


def test_refused_credentials_raise_after_keeping_what_was_read(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    fake.add_reply(post_id, fake.user("jane"), ANSWER)
    fake.fail_next(SEARCH, 401)
    with pytest.raises(AuthError):
        poll(fake, db, T0)
    assert len(stored(db)) == 1 and list(cursors(db)) == ["mentions"]


# -- crashes -------------------------------------------------------------------------------------
class Crash(BaseException):
    """Stands for the process dying: nothing in the bridge catches it."""


class CrashOnSearch:
    """The real client, but the process 'dies' after mentions were read, before the commit."""

    def __init__(self, client: XClient) -> None:
        self.client = client

    def mentions(self, user_id: str, since_id: str | None) -> list[XPost]:
        return self.client.mentions(user_id, since_id)

    def search_conversation(self, conversation_id: str, since_id: str | None) -> list[XPost]:
        self.client.search_conversation(conversation_id, since_id)
        raise Crash


def test_a_crash_between_fetch_and_commit_refetches_and_stores_once(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    reply = fake.add_reply(post_id, fake.user("jane"), ANSWER)
    store = Store.open(db)
    with pytest.raises(Crash):
        poll_replies(store, CrashOnSearch(x(fake)), bot(fake).id, SETTINGS, OPEN, T0)
    store.close()
    assert stored(db) == [] and cursors(db) == {}
    assert rows(db, "SELECT COUNT(*) FROM reply_polls") == [(0,)]  # the next poll is due at once
    assert poll(fake, db, T0 + timedelta(seconds=1)).stored == {"approved": 1}
    assert [r[0] for r in stored(db)] == [reply.id]


KILL_IN_COMMIT = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime
    from bridge.decide.moderation import ModerationSettings
    from bridge.config.sections import ReplySettings
    from bridge.stages.replies import poll_replies
    from bridge.store.db import Store
    from bridge.adapters.x_client import XClient

    db, base, token, me, now = sys.argv[1:6]
    store = Store.open(db)
    def die_before_commit(sql):
        # the poll's own row is the transaction's last write: replies and cursors are in it
        if sql.startswith("INSERT INTO reply_polls"):
            os.kill(os.getpid(), signal.SIGKILL)
    store.conn.set_trace_callback(die_before_commit)
    client = XClient(api_base_url=base, oauth2_user_token=token, timeout=5.0)
    poll_replies(store, client, me, ReplySettings(), ModerationSettings(mode="hold"),
                 datetime.fromisoformat(now))
""")


def test_sigkill_inside_the_poll_transaction_leaves_no_reply_and_no_cursor(
    fake: FakeX, db: Path,
) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    reply = fake.add_reply(post_id, fake.user("jane"), ANSWER)
    child = subprocess.run(
        [sys.executable, "-c", KILL_IN_COMMIT, str(db), fake.base_url, TOKEN, bot(fake).id,
         T0.isoformat()], capture_output=True, timeout=60, env=os.environ | {"PYTHONPATH": ""})
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert len(reads_of(fake)) == 2  # it did read mentions and the search
    assert stored(db) == [] and cursors(db) == {}
    assert poll(fake, db, T0 + timedelta(seconds=1)).stored == {"approved": 1}
    assert [r[0] for r in stored(db)] == [reply.id] and cursors(db)["mentions"] == reply.id


def test_held_replies_survive_a_restart_with_their_reason(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    young = fake.add_user("newbie", "New Account", created_at=T0 - timedelta(days=2))
    reply = fake.add_reply(post_id, young, "Our archive uses Gaylord boxes, never had problems.")
    poll(fake, db, T0, moderation=ModerationSettings())
    assert rows(db, "SELECT reply_id, status, reason FROM replies") == \
        [(reply.id, "held", "account is 2d old (minimum 30d)")]
    assert rows(db, "SELECT status, actor FROM reply_decisions") == [("held", "moderation")]


def test_moderation_caps_count_replies_stored_earlier_in_the_same_poll(fake: FakeX, db: Path) -> None:
    post_id = our_post(fake, db, "q1@lists.example.org")
    for n in range(3):
        fake.add_reply(post_id, fake.user("jane"), f"{ANSWER} Point {n}.")
    capped = ModerationSettings(per_author_daily=2)
    poll(fake, db, T0, ReplySettings(use_search=False), capped)
    assert [r[3] for r in stored(db)] == ["approved", "approved", "held"]


# -- text and config ----------------------------------------------------------------------------
def test_reply_text_unescapes_html_and_expands_tco_links_in_order() -> None:
    post = XPost("5", "@listbridge A &amp; B: https://t.co/abc123XYZ0 and https://t.co/def4567890.",
                 "1", "jane", "Jane", None, "4", "2", (), None,
                 ("https://example.net/one", "https://example.org/two"))
    assert reply_text(post) == \
        "@listbridge A & B: https://example.net/one and https://example.org/two."


def test_reply_text_keeps_tco_links_when_the_entities_do_not_match() -> None:
    post = XPost("5", "see https://t.co/abc123XYZ0", "1", None, None, None, "4", None, (), None, ())
    assert reply_text(post) == "see https://t.co/abc123XYZ0"


def test_read_replies_defaults_keys_and_problems() -> None:
    problems: list[str] = []
    assert read_replies(Section({}, "replies", problems)) == ReplySettings() and problems == []
    cfg = read_replies(Section({"reply_window": "3d", "min_poll_interval": "1h",
                                "daily_read_budget": 100, "use_search": False}, "replies", problems))
    assert cfg == ReplySettings(timedelta(days=3), timedelta(hours=1), 100, False) and problems == []
    read_replies(Section({"reply_window": "90d", "min_poll_interval": "2s",
                          "daily_read_budget": 0, "poll": 1}, "replies", problems))
    assert problems == ["replies.daily_read_budget: must be between 1 and 10000000",
                        "replies.min_poll_interval: must be at least 5s",
                        "replies.reply_window: must be between 1h and 30d",
                        "replies.poll: unknown key"]
