"""The relays tables (relays, relay_keys) and the replies' side of relaying: every read and
write the relay stage does. Rows come back as named values.

Functions taking a connection run inside the caller's transaction (a relay row and its replies'
relay_id commit together); those taking the Store commit their own.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.compose.relay_email import ReplyItem
from bridge.store.db import Store, from_epoch, to_epoch


@dataclass(frozen=True, slots=True)
class PendingRelay:
    message_id: str
    raw: bytes
    created_at: datetime


def stored_token_key(store: Store) -> bytes:
    """The relay token key kept in the store, made (random) the first time it is asked for."""
    with store.transaction() as conn:
        row = conn.execute("SELECT value FROM relay_keys WHERE name = 'token'").fetchone()
        if row is not None:
            return bytes(row[0])
        key = os.urandom(32)
        conn.execute("INSERT INTO relay_keys(name, value, created_at) VALUES ('token', ?, ?)",
                     (key, int(time.time())))
        return key


def unechoed_seen(conn: sqlite3.Connection) -> list[str]:
    """Relays not yet marked echoed whose Message-ID is now among the stored messages."""
    return [str(r[0]) for r in conn.execute(
        "SELECT r.message_id FROM relays r JOIN messages m ON m.message_id = r.message_id "
        "WHERE r.echoed_at IS NULL ORDER BY r.created_at")]


def mark_echoed(conn: sqlite3.Connection, message_id: str, now: datetime) -> None:
    """The list delivered it back: echoed, and sent (if that was not recorded yet)."""
    conn.execute("UPDATE relays SET echoed_at = ?, status = 'sent', sent_at = COALESCE(sent_at, ?), "
                 "error = '' WHERE message_id = ?", (to_epoch(now), to_epoch(now), message_id))
    _replies_relayed(conn, message_id)


def _replies_relayed(conn: sqlite3.Connection, message_id: str) -> None:
    conn.execute("UPDATE replies SET status = 'relayed' WHERE relay_id = ? AND status = 'approved'",
                 (message_id,))


def roots_with_approved(store: Store, fetched_before: datetime) -> list[str]:
    """Roots with approved, unrelayed replies, the first of them fetched before the time."""
    rows = store.conn.execute(
        "SELECT root_id FROM replies WHERE status = 'approved' AND relay_id IS NULL "
        "GROUP BY root_id HAVING MIN(fetched_at) <= ? ORDER BY MIN(fetched_at), root_id",
        (to_epoch(fetched_before),))
    return [str(r[0]) for r in rows]


def approved_items(conn: sqlite3.Connection, root_id: str) -> list[ReplyItem]:
    rows = conn.execute(
        "SELECT reply_id, author_name, author_username, text, url, created_at, network FROM replies "
        "WHERE root_id = ? AND status = 'approved' AND relay_id IS NULL ORDER BY created_at, reply_id",
        (root_id,))
    return [ReplyItem(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), from_epoch(int(r[5])),
                      str(r[6])) for r in rows]


def hold_reply(conn: sqlite3.Connection, reply_id: str, reason: str) -> None:
    conn.execute("UPDATE replies SET status = 'held', reason = ? WHERE reply_id = ?", (reason, reply_id))


def add_relay(conn: sqlite3.Connection, message_id: str, root_id: str, raw: bytes,
              reply_ids: Sequence[str], now: datetime) -> None:
    """The relay row (pending, its exact bytes) and its replies' relay_id, in the caller's
    transaction: stored before any attempt to send."""
    conn.execute(
        "INSERT INTO relays(message_id, root_id, status, raw, next_attempt_at, created_at) "
        "VALUES (?, ?, 'pending', ?, ?, ?)", (message_id, root_id, raw, to_epoch(now), to_epoch(now)))
    conn.executemany("UPDATE replies SET relay_id = ? WHERE reply_id = ?",
                     [(message_id, reply_id) for reply_id in reply_ids])


def due_sends(store: Store, now: datetime) -> list[PendingRelay]:
    rows = store.conn.execute(
        "SELECT message_id, raw, created_at FROM relays WHERE status = 'pending' "
        "AND next_attempt_at <= ? ORDER BY created_at, message_id", (to_epoch(now),)).fetchall()
    return [PendingRelay(str(r[0]), bytes(r[1]), from_epoch(int(r[2]))) for r in rows]


def next_attempt(store: Store) -> datetime | None:
    """When the earliest pending relay may be tried again."""
    row = store.conn.execute("SELECT MIN(next_attempt_at) FROM relays WHERE status = 'pending'").fetchone()
    return from_epoch(int(row[0])) if row[0] is not None else None


def lease(store: Store, message_id: str, until: datetime, now: datetime) -> bool:
    """Claim one attempt durably; False when another run claimed it first."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE relays SET attempts = attempts + 1, next_attempt_at = ? WHERE message_id = ? "
            "AND status = 'pending' AND next_attempt_at <= ?", (to_epoch(until), message_id, to_epoch(now)))
        return cur.rowcount == 1


def mark_sent(store: Store, message_id: str, now: datetime) -> dict[str, int]:
    """The relay went out; its replies are relayed. How many of them came from each network."""
    with store.transaction() as conn:
        conn.execute("UPDATE relays SET status = 'sent', sent_at = ?, error = '' WHERE message_id = ?",
                     (to_epoch(now), message_id))
        _replies_relayed(conn, message_id)
        return {str(network): int(count) for network, count in conn.execute(
            "SELECT network, COUNT(*) FROM replies WHERE relay_id = ? GROUP BY network",
            (message_id,))}


def note_error(store: Store, message_id: str, error: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE relays SET error = ? WHERE message_id = ?", (error, message_id))


def retry_later(store: Store, message_id: str, error: str, now: datetime,
                delay: Callable[[int], timedelta]) -> None:
    """Next attempt after `delay(attempts so far)`."""
    with store.transaction() as conn:
        row = conn.execute("SELECT attempts FROM relays WHERE message_id = ?", (message_id,)).fetchone()
        retry_at = now + delay(int(row[0]) if row else 1)
        conn.execute("UPDATE relays SET next_attempt_at = ?, error = ? WHERE message_id = ?",
                     (to_epoch(retry_at), error, message_id))


def fail(store: Store, message_id: str, error: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE relays SET status = 'failed', error = ? WHERE message_id = ?",
                     (error, message_id))
