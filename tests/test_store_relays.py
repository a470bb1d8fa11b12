"""store.relays: a relay row with its replies, leases, retries and the echo, as named values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.decide.moderation import Verdict
from bridge.store import relays
from bridge.store import replies as replyrows
from bridge.store.db import Store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MID = "lsb-relay.1.ab@bridge.example.net"


def test_a_relay_is_stored_with_its_replies_then_leased_retried_and_sent(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    with store.transaction() as conn:
        replyrows.add_reply(conn, replyrows.NewReply(
            "5", "q1@lists.example.org", "1900", "77", "jane", "Jane Doe", None, "Try Koha.",
            "https://x.com/jane/status/5", T0), Verdict("approved", "ok"), T0)
    assert relays.roots_with_approved(store, T0) == ["q1@lists.example.org"]
    with store.transaction() as conn:
        [item] = relays.approved_items(conn, "q1@lists.example.org")
        assert (item.reply_id, item.author_username, item.created_at) == ("5", "jane", T0)
        relays.add_relay(conn, MID, "q1@lists.example.org", b"raw bytes", ["5"], T0)
    assert relays.roots_with_approved(store, T0) == []  # its replies are in a relay now
    [pending] = relays.due_sends(store, T0)
    assert pending == relays.PendingRelay(MID, b"raw bytes", T0)
    assert relays.lease(store, MID, T0 + timedelta(minutes=30), T0)
    assert not relays.lease(store, MID, T0 + timedelta(minutes=30), T0)  # claimed already
    relays.retry_later(store, MID, "4xx", T0, lambda attempts: timedelta(minutes=5 * attempts))
    assert relays.next_attempt(store) == T0 + timedelta(minutes=5)
    relays.mark_sent(store, MID, T0 + timedelta(minutes=5))
    assert relays.next_attempt(store) is None
    [status] = store.conn.execute("SELECT status FROM replies WHERE reply_id = '5'").fetchone()
    assert status == "relayed"
    assert relays.stored_token_key(store) == relays.stored_token_key(store)  # made once, kept
    store.close()
