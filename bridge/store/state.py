"""The daemon's bookkeeping (stage_status, daemon_state) and what `status` reads back of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.store.db import Store, from_epoch, to_epoch


@dataclass(frozen=True, slots=True)
class StageStatus:
    stage: str
    last_ok_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    errors: int


def _when(value: object) -> datetime | None:
    return from_epoch(int(str(value))) if value is not None else None


def record_cycle(store: Store, stages: Sequence[str], errors: Mapping[str, str], now: datetime,
                 next_due_at: datetime | None) -> None:
    """Each stage's success or (already redacted) error, and the cycle's times, in one transaction."""
    epoch = to_epoch(now)
    with store.transaction() as conn:
        for stage in stages:
            error = errors.get(stage)
            if error is None:
                conn.execute(
                    "INSERT INTO stage_status(stage, last_ok_at) VALUES (?, ?) ON CONFLICT(stage) "
                    "DO UPDATE SET last_ok_at = excluded.last_ok_at", (stage, epoch))
            else:
                conn.execute(
                    "INSERT INTO stage_status(stage, last_error, last_error_at, errors) "
                    "VALUES (?, ?, ?, 1) ON CONFLICT(stage) DO UPDATE SET last_error = "
                    "excluded.last_error, last_error_at = excluded.last_error_at, "
                    "errors = errors + 1", (stage, error[:500], epoch))
        set_state(store, "last_cycle_at", str(epoch))
        if not errors:
            set_state(store, "last_ok_cycle_at", str(epoch))
        if next_due_at is not None:
            set_state(store, "next_due_at", str(to_epoch(next_due_at)))


def set_state(store: Store, key: str, value: str) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO daemon_state(key, value) VALUES (?, ?) ON CONFLICT(key) "
                     "DO UPDATE SET value = excluded.value", (key, value))


def state_time(store: Store, key: str) -> datetime | None:
    """A daemon_state time (last_cycle_at, last_ok_cycle_at, next_due_at); None if never set."""
    row = store.conn.execute("SELECT value FROM daemon_state WHERE key = ?", (key,)).fetchone()
    return _when(row[0]) if row else None


def stage_statuses(store: Store) -> list[StageStatus]:
    rows = store.conn.execute("SELECT stage, last_ok_at, last_error, last_error_at, errors "
                              "FROM stage_status")
    return [StageStatus(str(r[0]), _when(r[1]), str(r[2] or ""), _when(r[3]), int(r[4] or 0))
            for r in rows]
