"""approval_requests and approval_answers (migration 008): every read and write approval by
email does, including what an answer does to the held post or reply it names.

Each write is its own committed transaction, except `add_answer`, which runs inside the ingest
batch's transaction so that answers move together with the IMAP cursor.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bridge.decide.approval import (
    APPROVE,
    CLOSED,
    EXPIRED,
    POST,
    Answer,
    RequestState,
)
from bridge.decide.moderation import APPROVED, REJECTED, STOP_REASON, Verdict
from bridge.store.db import Store, from_epoch, to_epoch
from bridge.store.replies import record_decision

ADMIN_DECIDED = "decided by the admin (release / moderate)"


@dataclass(frozen=True, slots=True)
class HeldPost:
    """A held question: one row per network it is held on, one request for all of them."""

    root_id: str
    texts: tuple[tuple[str, str], ...]  # (network, the exact text) per held row
    link: str
    reasons: tuple[str, ...]  # distinct reasons of its rows, in order
    created_at: int


@dataclass(frozen=True, slots=True)
class HeldReply:
    reply_id: str
    root_id: str
    author_username: str
    author_name: str
    text: str
    url: str
    reason: str
    created_at: int
    link: str  # our post's thread link
    network: str  # where the reply was written


@dataclass(frozen=True, slots=True)
class NewRequest:
    token: str
    kind: str
    item_id: str
    message_id: str
    raw: bytes
    recipients: tuple[str, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Outgoing:
    token: str
    message_id: str
    raw: bytes
    recipients: tuple[str, ...]
    created_at: int


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    answer: Answer
    received_at: int


@dataclass(frozen=True, slots=True)
class RequestRow:
    token: str
    kind: str
    item_id: str
    status: str
    reason: str
    send_status: str
    error: str
    expires_at: int


# -- answers (written by ingest) ---------------------------------------------------------------
def add_answer(conn: sqlite3.Connection, answer: Answer, now: datetime) -> bool:
    """Store an answer once by its Message-ID; False when it was already stored."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO approval_answers(message_id, token, from_address, verdict, problem, "
        "status, received_at) VALUES (?, ?, ?, ?, ?, 'new', ?)",
        (answer.message_id, answer.token, answer.from_address, answer.verdict, answer.problem,
         to_epoch(now)))
    return cur.rowcount == 1


def new_answers(store: Store) -> list[StoredAnswer]:
    rows = store.conn.execute(
        "SELECT message_id, token, from_address, verdict, problem, received_at FROM approval_answers "
        "WHERE status = 'new' ORDER BY received_at, message_id").fetchall()
    return [StoredAnswer(Answer(r[0], r[1], r[2], r[3], r[4]), int(r[5])) for r in rows]


def settle_answer(conn: sqlite3.Connection, message_id: str, status: str, reason: str,
                  now: datetime) -> None:
    conn.execute("UPDATE approval_answers SET status = ?, reason = ?, applied_at = ? "
                 "WHERE message_id = ?", (status, reason, to_epoch(now), message_id))


# -- requests ----------------------------------------------------------------------------------
def request_state(store: Store, token: str) -> RequestState | None:
    row = store.conn.execute("SELECT token, kind, item_id, status, expires_at FROM approval_requests "
                             "WHERE token = ?", (token,)).fetchone()
    return RequestState(row[0], row[1], row[2], row[3], from_epoch(int(row[4]))) if row else None


def posts_without_request(store: Store) -> list[HeldPost]:
    """Held questions no request names yet, oldest first; a question held on several networks
    is one item (release and approval act on every network's row)."""
    rows = store.conn.execute(
        "SELECT root_id, network, text, link, reason, created_at FROM posts p WHERE status = 'held' "
        "AND NOT EXISTS (SELECT 1 FROM approval_requests a WHERE a.kind = 'post' "
        "AND a.item_id = p.root_id) ORDER BY created_at, root_id, network").fetchall()
    grouped: dict[str, list[tuple[str, str, str, str, int]]] = {}
    for root, network, text, link, reason, created in rows:
        grouped.setdefault(str(root), []).append((str(network), str(text), str(link), str(reason),
                                                  int(created)))
    return [HeldPost(root, tuple((n, t) for n, t, _, _, _ in items), items[0][2],
                     tuple(dict.fromkeys(r for _, _, _, r, _ in items)), items[0][4])
            for root, items in grouped.items()]


def replies_without_request(store: Store) -> list[HeldReply]:
    """Held replies a moderator can decide: not those asking to stop (the admin honours them)
    and not those the relay set aside (they cannot be built into an email)."""
    rows = store.conn.execute(
        "SELECT r.reply_id, r.root_id, r.author_username, r.author_name, r.text, r.url, r.reason, "
        "r.created_at, COALESCE(p.link, ''), r.network FROM replies r LEFT JOIN posts p "
        "ON p.network = r.network AND p.post_id = r.post_id "
        "AND p.network = r.network "
        "WHERE r.status = 'held' AND r.reason != ? AND r.reason NOT LIKE 'relay:%' "
        "AND NOT EXISTS (SELECT 1 FROM approval_requests a WHERE a.kind = 'reply' "
        "AND a.item_id = r.reply_id) ORDER BY r.created_at, r.reply_id", (STOP_REASON,)).fetchall()
    return [HeldReply(*r) for r in rows]


def add_request(store: Store, request: NewRequest, now: datetime) -> None:
    """The request email's bytes and Message-ID, stored before any attempt to send it."""
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO approval_requests(token, kind, item_id, message_id, raw, recipients, "
            "send_status, next_attempt_at, status, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, 'open', ?, ?)",
            (request.token, request.kind, request.item_id, request.message_id, request.raw,
             " ".join(request.recipients), to_epoch(now), to_epoch(now),
             to_epoch(request.expires_at)))


def due_sends(store: Store, now: datetime) -> list[Outgoing]:
    rows = store.conn.execute(
        "SELECT token, message_id, raw, recipients, created_at FROM approval_requests "
        "WHERE send_status = 'pending' AND next_attempt_at <= ? ORDER BY created_at, token",
        (to_epoch(now),)).fetchall()
    return [Outgoing(r[0], r[1], bytes(r[2]), tuple(str(r[3]).split()), int(r[4])) for r in rows]


def lease(store: Store, token: str, until: datetime, now: datetime) -> bool:
    """Claim one attempt durably; False when another run claimed it first."""
    with store.transaction() as conn:
        return conn.execute(
            "UPDATE approval_requests SET attempts = attempts + 1, next_attempt_at = ? "
            "WHERE token = ? AND send_status = 'pending' AND next_attempt_at <= ?",
            (to_epoch(until), token, to_epoch(now))).rowcount == 1


def attempts(store: Store, token: str) -> int:
    row = store.conn.execute("SELECT attempts FROM approval_requests WHERE token = ?",
                             (token,)).fetchone()
    return int(row[0]) if row else 0


def mark_sent(store: Store, token: str, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE approval_requests SET send_status = 'sent', sent_at = ?, error = '' "
                     "WHERE token = ?", (to_epoch(now), token))


def retry_send(store: Store, token: str, at: datetime, error: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE approval_requests SET next_attempt_at = ?, error = ? WHERE token = ?",
                     (to_epoch(at), error, token))


def fail_send(store: Store, token: str, error: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE approval_requests SET send_status = 'failed', error = ? "
                     "WHERE token = ?", (error, token))


def next_send_at(store: Store) -> datetime | None:
    row = store.conn.execute("SELECT MIN(next_attempt_at) FROM approval_requests "
                             "WHERE send_status = 'pending'").fetchone()
    return from_epoch(int(row[0])) if row[0] is not None else None


def next_expiry_at(store: Store) -> datetime | None:
    row = store.conn.execute("SELECT MIN(expires_at) FROM approval_requests "
                             "WHERE status = 'open'").fetchone()
    return from_epoch(int(row[0])) if row[0] is not None else None


# -- decisions ---------------------------------------------------------------------------------
def apply_verdict(store: Store, request: RequestState, verdict: str, moderator: str, reason: str,
                  answer_id: str, now: datetime) -> bool:
    """Approve or reject the held item and close the request, with the answer, in one
    transaction. False (and the request closed) when the item was no longer held."""
    with store.transaction() as conn:
        changed = (_decide_post(conn, request.item_id, verdict, reason, now) if request.kind == POST
                   else _decide_reply(conn, request.item_id, verdict, reason, moderator, now))
        status = (request.status if not changed else
                  ("approved" if verdict == APPROVE else "rejected"))
        if not changed:
            _close(conn, request.token, CLOSED, ADMIN_DECIDED, "", now)
            settle_answer(conn, answer_id, "ignored", f"the {request.kind} is no longer held", now)
            return False
        _close(conn, request.token, status, reason, moderator, now)
        settle_answer(conn, answer_id, "applied", reason, now)
        return True


def _decide_post(conn: sqlite3.Connection, root_id: str, verdict: str, reason: str,
                 now: datetime) -> bool:
    if verdict == APPROVE:  # queued: published within the usual caps
        sql = ("UPDATE posts SET status = 'queued', reason = ?, next_attempt_at = ? "
               "WHERE root_id = ? AND status = 'held'")
        return conn.execute(sql, (reason, to_epoch(now), root_id)).rowcount >= 1  # every network
    # never posted: 'failed' is final for the publisher, and the reason says who rejected it
    return conn.execute("UPDATE posts SET status = 'failed', reason = ? WHERE root_id = ? "
                        "AND status = 'held'", (reason, root_id)).rowcount >= 1


def _decide_reply(conn: sqlite3.Connection, reply_id: str, verdict: str, reason: str,
                  moderator: str, now: datetime) -> bool:
    row = conn.execute("SELECT status, relay_id FROM replies WHERE reply_id = ?",
                       (reply_id,)).fetchone()
    if row is None or row[0] != "held" or row[1]:
        return False
    record_decision(conn, reply_id, Verdict(APPROVED if verdict == APPROVE else REJECTED, reason),
                    moderator, now)
    return True


def _close(conn: sqlite3.Connection, token: str, status: str, reason: str, moderator: str,
           now: datetime) -> None:
    conn.execute("UPDATE approval_requests SET status = ?, reason = ?, decided_by = ?, "
                 "decided_at = ? WHERE token = ?", (status, reason, moderator, to_epoch(now), token))


def expire_due(store: Store, reason: str, now: datetime) -> list[RequestRow]:
    """Open requests past their expiry: expired, with the reason; the item stays held (never
    posted unseen), its own reason saying that nobody answered. No write lock when none is due."""
    where, params = "status = 'open' AND expires_at <= ?", (to_epoch(now),)
    if not _requests(store.conn, where, params):
        return []
    with store.transaction() as conn:
        rows = _requests(conn, where, params)
        for row in rows:
            _close(conn, row.token, EXPIRED, reason, "", now)
            table, key = ("posts", "root_id") if row.kind == POST else ("replies", "reply_id")
            conn.execute(f"UPDATE {table} SET reason = reason || ? WHERE {key} = ? "
                         "AND status = 'held'", (f"; approval expired: {reason}", row.item_id))
    return rows


_DECIDED_ELSEWHERE = (
    "SELECT a.token FROM approval_requests a WHERE a.status = 'open' AND NOT EXISTS ("
    "SELECT 1 FROM posts p WHERE a.kind = 'post' AND p.root_id = a.item_id AND p.status = 'held' "
    "UNION ALL SELECT 1 FROM replies r WHERE a.kind = 'reply' AND r.reply_id = a.item_id "
    "AND r.status = 'held')")


def close_decided_elsewhere(store: Store, now: datetime) -> list[str]:
    """Open requests whose item the admin already released or moderated: closed (no write lock
    when there are none)."""
    if not store.conn.execute(_DECIDED_ELSEWHERE).fetchone():
        return []
    with store.transaction() as conn:
        tokens = [str(r[0]) for r in conn.execute(_DECIDED_ELSEWHERE)]
        for token in tokens:
            _close(conn, token, CLOSED, ADMIN_DECIDED, "", now)
    return tokens


def _requests(conn: sqlite3.Connection, where: str, params: tuple[object, ...]) -> list[RequestRow]:
    rows = conn.execute("SELECT token, kind, item_id, status, reason, send_status, error, expires_at "
                        f"FROM approval_requests WHERE {where} ORDER BY created_at, token",
                        params).fetchall()
    return [RequestRow(*r) for r in rows]


def requests(store: Store, status: str | None = None) -> list[RequestRow]:
    """Every request (or those with `status`), oldest first: what `status` shows."""
    if status is None:
        return _requests(store.conn, "1 = 1", ())
    return _requests(store.conn, "status = ?", (status,))


def requests_by_item(store: Store, kind: str) -> dict[str, RequestRow]:
    """The request naming each item of `kind` (post: root_id, reply: reply_id)."""
    return {r.item_id: r for r in _requests(store.conn, "kind = ?", (kind,))}


def counts(store: Store) -> dict[str, int]:
    return {str(s): int(n) for s, n in store.conn.execute(
        "SELECT status, COUNT(*) FROM approval_requests GROUP BY status")}



