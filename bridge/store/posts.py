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
    network: str = NETWORK
    created_at: int | None = None  # the row's first write (None: written now)


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
    network: str = NETWORK


@dataclass(frozen=True, slots=True)
class OurPost:
    """A confirmed post of ours: replies to it are picked up within the reply window."""

    root_id: str  # the question's Message-ID
    post_id: str
    confirmed_at: datetime


@dataclass(frozen=True, slots=True)
class PostingState:
    suspended_reason: str = ""  # "" = posting allowed
    suspended_at: int | None = None
    blocked_until: int = 0  # epoch seconds; no post before (X's rate-limit reset)
    blocked_reason: str = ""


_COLUMNS = ("root_id, status, text, link, post_id, reason, error, created_at, attempts, "
            "COALESCE(attempted_at, created_at), next_attempt_at, network")


def _select(store: Store, where: str, params: tuple[object, ...]) -> list[PostRow]:
    found = store.conn.execute(f"SELECT {_COLUMNS} FROM posts WHERE {where}", params).fetchall()
    return [PostRow(*r) for r in found]


def confirmed_since(store: Store, since: datetime, network: str = NETWORK) -> list[OurPost]:
    """Our confirmed posts on `network` since `since`, oldest first."""
    rows = store.conn.execute(
        "SELECT root_id, post_id, confirmed_at FROM posts WHERE status = 'confirmed' "
        "AND network = ? AND post_id IS NOT NULL AND confirmed_at >= ? ORDER BY confirmed_at",
        (network, to_epoch(since))).fetchall()
    return [OurPost(str(r[0]), str(r[1]), from_epoch(int(r[2]))) for r in rows]


def status_by_root(store: Store) -> dict[str, str]:
    """Each question's post status (with several networks: the row read last, as before)."""
    return {str(r[0]): str(r[1]) for r in store.conn.execute("SELECT root_id, status FROM posts")}


def posted_roots(store: Store, networks: tuple[str, ...] | None = None) -> frozenset[str]:
    """Roots the matcher must never propose again: any row at all (held and failed included);
    with `networks`, only roots that have a row on every one of them (a network added later
    still gets the questions that are due)."""
    if not networks:
        return frozenset(r[0] for r in store.conn.execute("SELECT root_id FROM posts"))
    marks = ",".join("?" * len(networks))
    return frozenset(r[0] for r in store.conn.execute(
        f"SELECT root_id FROM posts WHERE network IN ({marks}) GROUP BY root_id "
        "HAVING COUNT(DISTINCT network) = ?", (*networks, len(networks))))


def network_roots(store: Store, network: str) -> frozenset[str]:
    """Roots that have a row on `network`."""
    return frozenset(r[0] for r in store.conn.execute(
        "SELECT root_id FROM posts WHERE network = ?", (network,)))


def rows_with_status(store: Store, status: str, network: str | None = None) -> list[PostRow]:
    if network is None:
        return _select(store, "status = ? ORDER BY created_at, root_id, network", (status,))
    return _select(store, "status = ? AND network = ? ORDER BY created_at, root_id",
                   (status, network))


def queued_candidates(store: Store, now: datetime, network: str = NETWORK) -> list[Candidate]:
    found = store.conn.execute(
        "SELECT root_id, thread_id, text, link, created_at FROM posts WHERE status = 'queued' "
        "AND network = ? AND next_attempt_at <= ? ORDER BY created_at, root_id",
        (network, to_epoch(now))).fetchall()
    return [Candidate(r[0], r[1], r[2], r[3], True, network, r[4]) for r in found]


def pending_rows(store: Store, now: datetime, network: str = NETWORK) -> list[PostRow]:
    return _select(store, "status = 'pending' AND network = ? AND next_attempt_at <= ? "
                   "ORDER BY created_at, root_id", (network, to_epoch(now)))


def next_attempts(store: Store, network: str = NETWORK) -> tuple[datetime | None, datetime | None]:
    """The earliest next attempt of a pending row (reconciliation) and of a queued row (send)."""
    found = dict(store.conn.execute(
        "SELECT status, MIN(next_attempt_at) FROM posts WHERE network = ? AND status IN "
        "('pending', 'queued') AND next_attempt_at IS NOT NULL GROUP BY status",
        (network,)).fetchall())
    pending, queued = found.get("pending"), found.get("queued")
    return (from_epoch(int(pending)) if pending is not None else None,
            from_epoch(int(queued)) if queued is not None else None)


def hold(store: Store, candidates: list[Candidate], reason: str, now: datetime) -> list[str]:
    with store.transaction() as conn:
        for c in candidates:
            conn.execute(
                "INSERT INTO posts(root_id, thread_id, network, status, text, link, reason, "
                "created_at) VALUES (?, ?, ?, 'held', ?, ?, ?, ?)",
                (c.root_id, c.thread_id, c.network, c.text, c.link, reason, to_epoch(now)))
    return [c.root_id for c in candidates]


def release_held(store: Store, root_ids: list[str] | None, now: datetime) -> list[str]:
    """Held rows (all, or those named; on every network) -> queued; the roots released."""
    with store.transaction() as conn:
        held = [r for r in rows_with_status(store, "held")
                if root_ids is None or r.root_id in root_ids]
        for row in held:
            conn.execute("UPDATE posts SET status = 'queued', reason = 'released by the admin', "
                         "next_attempt_at = ? WHERE root_id = ? AND network = ?",
                         (to_epoch(now), row.root_id, row.network))
    return list(dict.fromkeys(r.root_id for r in held))


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
                "next_attempt_at = ? WHERE root_id = ? AND network = ? AND status = 'queued'",
                (status, at, at, c.root_id, c.network)).rowcount
            if changed != 1:
                raise RuntimeError(f"post for {c.root_id} on {c.network} is no longer queued")
            return
        conn.execute(
            "INSERT INTO posts(root_id, thread_id, network, status, text, link, created_at, "
            "attempts, attempted_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (c.root_id, c.thread_id, c.network, status, c.text, c.link, c.created_at or at, at, at))


def _update(store: Store, root_id: str, network: str, assignments: str,
            params: tuple[object, ...]) -> None:
    with store.transaction() as conn:
        conn.execute(f"UPDATE posts SET {assignments} WHERE root_id = ? AND network = ?",
                     (*params, root_id, network))


def confirm(store: Store, root_id: str, post_id: str, now: datetime,
            network: str = NETWORK) -> None:
    _update(store, root_id, network, "status = 'confirmed', post_id = ?, confirmed_at = ?, "
            "error = ''", (post_id, to_epoch(now)))


def requeue(store: Store, root_id: str, at: datetime, error: str, network: str = NETWORK) -> None:
    """Surely not on the network: send again (same text) from `at` on."""
    _update(store, root_id, network, "status = 'queued', next_attempt_at = ?, error = ?",
            (to_epoch(at), error))


def note_error(store: Store, root_id: str, now: datetime, error: str,
               network: str = NETWORK) -> None:
    """Outcome unknown: the row stays pending and is reconciled at the next check."""
    _update(store, root_id, network, "next_attempt_at = ?, error = ?", (to_epoch(now), error))


def defer(store: Store, root_id: str, at: datetime, network: str = NETWORK) -> None:
    _update(store, root_id, network, "next_attempt_at = ?", (to_epoch(at),))


def fail(store: Store, root_id: str, reason: str, network: str = NETWORK) -> None:
    _update(store, root_id, network, "status = 'failed', reason = ?, error = ?", (reason, reason))


# -- caps and status ---------------------------------------------------------------------------
def _counted(dry_run: bool) -> tuple[str, ...]:
    return (*_SPENT, "dry_run") if dry_run else _SPENT


def slot_history(store: Store, since: datetime, dry_run: bool,
                 network: str = NETWORK) -> list[datetime]:
    """When each post on `network` that counts against its caps went out (dry-run rows only in
    dry-run mode)."""
    statuses = _counted(dry_run)
    marks = ",".join("?" * len(statuses))
    found = store.conn.execute(
        f"SELECT attempted_at FROM posts WHERE network = ? AND status IN ({marks}) "
        "AND attempted_at >= ?", (network, *statuses, to_epoch(since))).fetchall()
    return sorted(from_epoch(r[0]) for r in found)


def month_spend(store: Store, now: datetime, settings: PublishSettings, dry_run: bool,
                network: str = NETWORK) -> float:
    """USD of the posts sent on `network` in `now`'s local calendar month (dry-run rows in
    dry-run mode). `settings` carries that network's prices (0 where posting is free)."""
    statuses = _counted(dry_run)
    marks = ",".join("?" * len(statuses))
    start, end = month_start(now, settings.zone), next_month_start(now, settings.zone)
    found = store.conn.execute(
        f"SELECT link FROM posts WHERE network = ? AND status IN ({marks}) AND attempted_at >= ? "
        "AND attempted_at < ?", (network, *statuses, to_epoch(start), to_epoch(end))).fetchall()
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


def network_counts(store: Store) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    """network -> (posts per status, replies per status), for every network with a post."""
    found: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for network, status, count in store.conn.execute(
            "SELECT network, status, COUNT(*) FROM posts GROUP BY network, status"):
        found.setdefault(str(network), ({}, {}))[0][str(status)] = int(count)
    for network, status, count in store.conn.execute(
            "SELECT network, status, COUNT(*) FROM replies GROUP BY network, status"):
        found.setdefault(str(network), ({}, {}))[1][str(status)] = int(count)
    return found


def posting_state(store: Store, network: str = NETWORK) -> PostingState:
    row = store.conn.execute(
        "SELECT suspended_reason, suspended_at, blocked_until, blocked_reason FROM posting_state "
        "WHERE network = ?", (network,)).fetchone()
    return PostingState(*row) if row else PostingState()


def _upsert_state(store: Store, now: datetime, assignments: str, params: tuple[object, ...],
                  network: str) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO posting_state(network, updated_at) VALUES (?, ?)",
                     (network, to_epoch(now)))
        conn.execute(f"UPDATE posting_state SET {assignments}, updated_at = ? WHERE network = ?",
                     (*params, to_epoch(now), network))


def set_suspended(store: Store, reason: str, now: datetime, network: str = NETWORK) -> None:
    """reason "" lifts the suspension."""
    _upsert_state(store, now, "suspended_reason = ?, suspended_at = ?",
                  (reason, to_epoch(now) if reason else None), network)


def set_blocked(store: Store, until: datetime, reason: str, now: datetime,
                network: str = NETWORK) -> None:
    _upsert_state(store, now, "blocked_until = ?, blocked_reason = ?", (to_epoch(until), reason),
                  network)
