"""The replies tables (replies, reply_decisions, reply_cursors, reply_polls): every read and write
polling and moderating does. Rows come back as named values.

Functions taking a connection run inside the caller's transaction (a poll writes its replies,
decisions, cursors and poll row together); those taking the Store read outside one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.decide.moderation import RecentCounts, Verdict
from bridge.store.db import Store, from_epoch, to_epoch

_DAY = timedelta(days=1)
_COLUMNS = ("reply_id, root_id, post_id, author_username, author_name, text, url, created_at, "
            "status, reason, relay_id")


@dataclass(frozen=True, slots=True)
class ReplyRow:
    """One stored reply as the admin sees it."""

    reply_id: str
    root_id: str
    post_id: str
    author_username: str
    author_name: str
    text: str
    url: str
    created_at: datetime
    status: str
    reason: str
    relay_id: str | None


@dataclass(frozen=True, slots=True)
class NewReply:
    """A reply read from X, about to be stored with its moderation verdict."""

    reply_id: str
    root_id: str
    post_id: str
    author_id: str
    author_username: str
    author_name: str
    author_created_at: datetime | None
    text: str
    url: str
    created_at: datetime
    network: str = "x"


@dataclass(frozen=True, slots=True)
class LastPoll:
    polled_at: datetime
    retry_at: datetime | None  # X's rate-limit reset, when the poll was refused


def _row(values: Sequence[object]) -> ReplyRow:
    (reply_id, root_id, post_id, username, name, text, url, created_at, status, reason,
     relay_id) = values
    return ReplyRow(str(reply_id), str(root_id), str(post_id), str(username), str(name), str(text),
                    str(url), from_epoch(int(str(created_at))), str(status), str(reason or ""),
                    str(relay_id) if relay_id else None)


# -- moderation ------------------------------------------------------------------------------
def recent_counts(conn: sqlite3.Connection, author_id: str, post_id: str,
                  now: datetime) -> RecentCounts:
    """Replies approved (or relayed) in the last 24 hours, by this author and to this post."""
    since = to_epoch(now - _DAY)
    query = ("SELECT COUNT(*) FROM replies WHERE {} = ? AND fetched_at >= ? "
             "AND status IN ('approved', 'relayed')")
    author = conn.execute(query.format("author_id"), (author_id, since)).fetchone()[0]
    thread = conn.execute(query.format("post_id"), (post_id, since)).fetchone()[0]
    return RecentCounts(int(author), int(thread))


def record_decision(conn: sqlite3.Connection, reply_id: str, verdict: Verdict, actor: str,
                    now: datetime) -> None:
    """Set the reply's status and reason, and keep the decision in the trail."""
    conn.execute("UPDATE replies SET status = ?, reason = ? WHERE reply_id = ?",
                 (verdict.status, verdict.reason, reply_id))
    conn.execute("INSERT INTO reply_decisions(reply_id, status, reason, actor, decided_at) "
                 "VALUES (?, ?, ?, ?, ?)", (reply_id, verdict.status, verdict.reason, actor,
                                            to_epoch(now)))


def held_replies(store: Store) -> list[ReplyRow]:
    return [_row(r) for r in store.conn.execute(
        f"SELECT {_COLUMNS} FROM replies WHERE status = 'held' ORDER BY created_at, reply_id")]


def replies_by_id(store: Store, ids: Sequence[str]) -> list[ReplyRow]:
    marks = ",".join("?" * len(ids))
    return [_row(r) for r in store.conn.execute(
        f"SELECT {_COLUMNS} FROM replies WHERE reply_id IN ({marks}) ORDER BY created_at", tuple(ids))]


# -- polling ---------------------------------------------------------------------------------
def exists(conn: sqlite3.Connection, reply_id: str) -> bool:
    return conn.execute("SELECT 1 FROM replies WHERE reply_id = ?", (reply_id,)).fetchone() is not None


def add_reply(conn: sqlite3.Connection, reply: NewReply, verdict: Verdict, now: datetime) -> None:
    author_created = to_epoch(reply.author_created_at) if reply.author_created_at else None
    conn.execute(
        "INSERT INTO replies(reply_id, root_id, post_id, author_id, author_username, author_name, "
        "author_created_at, text, url, created_at, status, reason, fetched_at, network) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (reply.reply_id, reply.root_id, reply.post_id, reply.author_id, reply.author_username,
         reply.author_name, author_created, reply.text, reply.url, to_epoch(reply.created_at),
         verdict.status, verdict.reason, to_epoch(now), reply.network))


def cursors(conn: sqlite3.Connection, network: str = "x") -> dict[str, str]:
    """source -> since_id: "mentions", "search:<post id>" (X); "<network>:notifications"."""
    return {str(r[0]): str(r[1]) for r in conn.execute(
        "SELECT source, since_id FROM reply_cursors WHERE network = ?", (network,))}


def set_cursor(conn: sqlite3.Connection, network: str, source: str, value: str,
               now: datetime) -> None:
    """A network's opaque cursor (Mastodon: a notification id; Bluesky: an indexedAt time)."""
    conn.execute(
        "INSERT INTO reply_cursors(source, since_id, polled_at, network) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(source) DO UPDATE SET since_id = excluded.since_id, "
        "polled_at = excluded.polled_at", (source, value, to_epoch(now), network))


def advance_cursor(conn: sqlite3.Connection, source: str, since_id: str, now: datetime) -> None:
    """Move a since-id forward (never back: ids compare as integers)."""
    conn.execute(
        "INSERT INTO reply_cursors(source, since_id, polled_at) VALUES (?, ?, ?) "
        "ON CONFLICT(source) DO UPDATE SET since_id = CASE WHEN CAST(excluded.since_id AS INTEGER)"
        " > CAST(since_id AS INTEGER) THEN excluded.since_id ELSE since_id END, "
        "polled_at = excluded.polled_at", (source, since_id, to_epoch(now)))


def last_poll(conn: sqlite3.Connection, network: str = "x") -> LastPoll | None:
    row = conn.execute("SELECT polled_at, retry_at FROM reply_polls WHERE network = ? "
                       "ORDER BY id DESC LIMIT 1", (network,)).fetchone()
    if row is None:
        return None
    return LastPoll(from_epoch(int(row[0])), from_epoch(int(row[1])) if row[1] is not None else None)


def reads_since(conn: sqlite3.Connection, since: datetime,
                network: str = "x") -> list[tuple[datetime, int]]:
    """(poll time, posts read) of the polls after `since` that read anything, oldest first."""
    rows = conn.execute("SELECT polled_at, reads FROM reply_polls WHERE network = ? "
                        "AND polled_at > ? AND reads > 0 ORDER BY polled_at", (network, to_epoch(since)))
    return [(from_epoch(int(at)), int(count)) for at, count in rows]


def record_poll(conn: sqlite3.Connection, now: datetime, calls: int, reads: int, outcome: str,
                retry_at: datetime | None, error: str, network: str = "x") -> None:
    conn.execute("INSERT INTO reply_polls(polled_at, calls, reads, outcome, retry_at, error, network) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (to_epoch(now), calls, reads, outcome, to_epoch(retry_at) if retry_at else None, error,
                  network))
