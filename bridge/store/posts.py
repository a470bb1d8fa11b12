"""The posts table and posting_state (migrations 002, 004): every read and write publishing does.

Each write is its own committed transaction: publishing depends on the pending row being durable
before the network call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from bridge.decide.caps import (
    PublishSettings,
    day_start,
    month_start,
    next_day_start,
    next_month_start,
    price_of,
)
from bridge.store.db import Store, from_epoch, to_epoch

NETWORK = "x"
_SPENT = ("confirmed", "pending")  # a pending post may exist on X, and be billed


@dataclass(frozen=True, slots=True)
class Candidate:
    """A post about to go out: a new due plan, or an existing queued row (`queued`)."""

    root_id: str
    thread_id: int | None
    text: str
    link: str
    queued: bool


@dataclass(frozen=True, slots=True)
class PostRow:
    root_id: str
    status: str
    text: str
    link: str
    post_id: str | None
    reason: str
    error: str
    created_at: int
    attempts: int
    attempted_at: int
    next_attempt_at: int


@dataclass(frozen=True, slots=True)
class PostingState:
    suspended_reason: str = ""  # "" = posting allowed
    suspended_at: int | None = None
    blocked_until: int = 0  # epoch seconds; no post before (X's rate-limit reset)
    blocked_reason: str = ""


_COLUMNS = ("root_id, status, text, link, post_id, reason, error, created_at, attempts, "
            "COALESCE(attempted_at, created_at), next_attempt_at")


def _select(store: Store, where: str, params: tuple[object, ...]) -> list[PostRow]:
    found = store.conn.execute(f"SELECT {_COLUMNS} FROM posts WHERE {where}", params).fetchall()
    return [PostRow(*r) for r in found]


def posted_roots(store: Store) -> frozenset[str]:
    """Roots the matcher must never propose again: any row at all (held and failed included)."""
    return frozenset(r[0] for r in store.conn.execute("SELECT root_id FROM posts"))


def rows_with_status(store: Store, status: str) -> list[PostRow]:
    return _select(store, "status = ? ORDER BY created_at, root_id", (status,))


def queued_candidates(store: Store, now: datetime) -> list[Candidate]:
    found = store.conn.execute(
        "SELECT root_id, thread_id, text, link FROM posts WHERE status = 'queued' "
        "AND next_attempt_at <= ? ORDER BY created_at, root_id", (to_epoch(now),)).fetchall()
    return [Candidate(r[0], r[1], r[2], r[3], True) for r in found]


def pending_rows(store: Store, now: datetime) -> list[PostRow]:
    return _select(store, "status = 'pending' AND next_attempt_at <= ? ORDER BY created_at, root_id",
                   (to_epoch(now),))


def next_attempts(store: Store) -> tuple[datetime | None, datetime | None]:
    """The earliest next attempt of a pending row (reconciliation) and of a queued row (send)."""
    found = dict(store.conn.execute(
        "SELECT status, MIN(next_attempt_at) FROM posts WHERE status IN ('pending', 'queued') "
        "AND next_attempt_at IS NOT NULL GROUP BY status").fetchall())
    pending, queued = found.get("pending"), found.get("queued")
    return (from_epoch(int(pending)) if pending is not None else None,
            from_epoch(int(queued)) if queued is not None else None)


def hold(store: Store, candidates: list[Candidate], reason: str, now: datetime) -> list[str]:
    with store.transaction() as conn:
        for c in candidates:
            conn.execute(
                "INSERT INTO posts(root_id, thread_id, status, text, link, reason, created_at) "
                "VALUES (?, ?, 'held', ?, ?, ?, ?)",
                (c.root_id, c.thread_id, c.text, c.link, reason, to_epoch(now)))
    return [c.root_id for c in candidates]


def release_held(store: Store, root_ids: list[str] | None, now: datetime) -> list[str]:
    """Held rows (all, or those named) -> queued; the roots released."""
    with store.transaction() as conn:
        held = [r.root_id for r in rows_with_status(store, "held")
                if root_ids is None or r.root_id in root_ids]
        for root in held:
            conn.execute("UPDATE posts SET status = 'queued', reason = 'released by the admin', "
                         "next_attempt_at = ? WHERE root_id = ?", (to_epoch(now), root))
    return held


def mark_pending(store: Store, candidate: Candidate, now: datetime) -> None:
    """Record the attempt (committed) before the call: after this the text may be on X."""
    _write_attempt(store, candidate, "pending", now)


def record_dry_run(store: Store, candidate: Candidate, now: datetime) -> None:
    _write_attempt(store, candidate, "dry_run", now)


def _write_attempt(store: Store, c: Candidate, status: str, now: datetime) -> None:
    at = to_epoch(now)
    with store.transaction() as conn:
        if c.queued:
            changed = conn.execute(
                "UPDATE posts SET status = ?, attempts = attempts + 1, attempted_at = ?, "
                "next_attempt_at = ? WHERE root_id = ? AND status = 'queued'",
                (status, at, at, c.root_id)).rowcount
            if changed != 1:
                raise RuntimeError(f"post for {c.root_id} is no longer queued")
            return
        conn.execute(
            "INSERT INTO posts(root_id, thread_id, status, text, link, created_at, attempts, "
            "attempted_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (c.root_id, c.thread_id, status, c.text, c.link, at, at, at))


def confirm(store: Store, root_id: str, post_id: str, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE posts SET status = 'confirmed', post_id = ?, confirmed_at = ?, "
                     "error = '' WHERE root_id = ?", (post_id, to_epoch(now), root_id))


def requeue(store: Store, root_id: str, at: datetime, error: str) -> None:
    """Surely not on X: send again (same text) from `at` on."""
    with store.transaction() as conn:
        conn.execute("UPDATE posts SET status = 'queued', next_attempt_at = ?, error = ? "
                     "WHERE root_id = ?", (to_epoch(at), error, root_id))


def note_error(store: Store, root_id: str, now: datetime, error: str) -> None:
    """Outcome unknown: the row stays pending and is reconciled at the next check."""
    with store.transaction() as conn:
        conn.execute("UPDATE posts SET next_attempt_at = ?, error = ? WHERE root_id = ?",
                     (to_epoch(now), error, root_id))


def defer(store: Store, root_id: str, at: datetime) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE posts SET next_attempt_at = ? WHERE root_id = ?",
                     (to_epoch(at), root_id))


def fail(store: Store, root_id: str, reason: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE posts SET status = 'failed', reason = ?, error = ? WHERE root_id = ?",
                     (reason, reason, root_id))


# -- caps and status ---------------------------------------------------------------------------
def _counted(dry_run: bool) -> tuple[str, ...]:
    return (*_SPENT, "dry_run") if dry_run else _SPENT


def slot_history(store: Store, since: datetime, dry_run: bool) -> list[datetime]:
    """When each post that counts against the caps went out (dry-run rows only in dry-run mode)."""
    statuses = _counted(dry_run)
    marks = ",".join("?" * len(statuses))
    found = store.conn.execute(
        f"SELECT attempted_at FROM posts WHERE status IN ({marks}) AND attempted_at >= ?",
        (*statuses, to_epoch(since))).fetchall()
    return sorted(from_epoch(r[0]) for r in found)


def month_spend(store: Store, now: datetime, settings: PublishSettings, dry_run: bool) -> float:
    """USD of the posts sent in `now`'s local calendar month (dry-run rows in dry-run mode)."""
    statuses = _counted(dry_run)
    marks = ",".join("?" * len(statuses))
    start, end = month_start(now, settings.zone), next_month_start(now, settings.zone)
    found = store.conn.execute(
        f"SELECT link FROM posts WHERE status IN ({marks}) AND attempted_at >= ? "
        "AND attempted_at < ?", (*statuses, to_epoch(start), to_epoch(end))).fetchall()
    return round(sum(price_of(r[0], settings) for r in found), 6)


def spend_this_month(store: Store, now: datetime, settings: PublishSettings) -> float:
    """USD spent on posts this local calendar month: confirmed plus pending (maybe billed)."""
    return month_spend(store, now, settings, dry_run=False)


def posts_today(store: Store, now: datetime, tz: tzinfo) -> int:
    """Posts (confirmed or pending) sent on `now`'s local calendar day in `tz`."""
    start, end = day_start(now, tz), next_day_start(now, tz)
    row = store.conn.execute(
        "SELECT COUNT(*) FROM posts WHERE status IN ('confirmed', 'pending') AND attempted_at >= ? "
        "AND attempted_at < ?", (to_epoch(start), to_epoch(end))).fetchone()
    return int(row[0])


def posting_state(store: Store) -> PostingState:
    row = store.conn.execute(
        "SELECT suspended_reason, suspended_at, blocked_until, blocked_reason FROM posting_state "
        "WHERE network = ?", (NETWORK,)).fetchone()
    return PostingState(*row) if row else PostingState()


def _upsert_state(store: Store, now: datetime, assignments: str, params: tuple[object, ...]) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO posting_state(network, updated_at) VALUES (?, ?)",
                     (NETWORK, to_epoch(now)))
        conn.execute(f"UPDATE posting_state SET {assignments}, updated_at = ? WHERE network = ?",
                     (*params, to_epoch(now), NETWORK))


def set_suspended(store: Store, reason: str, now: datetime) -> None:
    """reason "" lifts the suspension."""
    _upsert_state(store, now, "suspended_reason = ?, suspended_at = ?",
                  (reason, to_epoch(now) if reason else None))


def set_blocked(store: Store, until: datetime, reason: str, now: datetime) -> None:
    _upsert_state(store, now, "blocked_until = ?, blocked_reason = ?", (to_epoch(until), reason))
