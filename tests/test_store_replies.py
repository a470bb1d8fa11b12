"""store.replies: replies stored with their verdict, read back by name, the decision trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.decide.moderation import RecentCounts, Verdict
from bridge.store import replies as rows
from bridge.store.db import Store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def reply(reply_id: str, author_id: str = "77", post_id: str = "1900") -> rows.NewReply:
    return rows.NewReply(reply_id, "q1@lists.example.org", post_id, author_id, "jane", "Jane Doe",
                         None, "Try Koha.", f"https://x.com/jane/status/{reply_id}", T0)


def test_replies_round_trip_as_named_values_with_their_trail(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    with store.transaction() as conn:
        for reply_id, verdict in (("5", Verdict("held", "contains a link")),
                                  ("6", Verdict("approved", "passed every filter"))):
            rows.add_reply(conn, reply(reply_id), verdict, T0)
            rows.record_decision(conn, reply_id, verdict, "moderation", T0)
    [held] = rows.held_replies(store)
    assert (held.reply_id, held.status, held.reason, held.created_at, held.relay_id) == (
        "5", "held", "contains a link", T0, None)
    assert [r.reply_id for r in rows.replies_by_id(store, ["6", "9"])] == ["6"]
    with store.transaction() as conn:
        rows.record_decision(conn, "5", Verdict("approved", "approved by admin"), "admin", T0)
        assert rows.exists(conn, "5") and not rows.exists(conn, "9")
        assert rows.recent_counts(conn, "77", "1900", T0 + timedelta(hours=1)) == RecentCounts(2, 2)
        assert rows.recent_counts(conn, "77", "1900", T0 + timedelta(days=2)) == RecentCounts(0, 0)
    trail = store.conn.execute("SELECT actor FROM reply_decisions WHERE reply_id = '5' ORDER BY id")
    assert [a for (a,) in trail] == ["moderation", "admin"]
    store.close()


def test_cursors_only_move_forward_and_polls_count_their_reads(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    with store.transaction() as conn:
        rows.advance_cursor(conn, "mentions", "1000", T0)
        rows.advance_cursor(conn, "mentions", "999", T0)  # an older id never moves it back
        rows.record_poll(conn, T0, 2, 5, "ok", None, "")
        rows.record_poll(conn, T0 + timedelta(minutes=15), 1, 0, "rate_limited", T0 + timedelta(hours=1), "")
        assert rows.cursors(conn) == {"mentions": "1000"}
        assert rows.reads_since(conn, T0 - timedelta(days=1)) == [(T0, 5)]
        assert rows.last_poll(conn) == rows.LastPoll(T0 + timedelta(minutes=15), T0 + timedelta(hours=1))
    store.close()
