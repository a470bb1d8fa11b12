"""The SQLite store: opening, numbered migrations, transactions, cursors and problems.

The store is the only stateful part of the bridge. Every cursor moves in the same transaction as
the rows it covers (see `Store.transaction`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from bridge.errors import StoreError
from bridge.model import Cursor, Problem


def _migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every packaged migration, in order."""
    found = []
    for entry in resources.files("bridge.store.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations are not numbered 1..N without gaps: {numbers}")
    return found


def schema_version() -> int:
    """The schema version this code writes."""
    return len(_migrations())


def to_epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def is_busy(exc: BaseException) -> bool:
    """Another process (an `ingest` run, a backup) held the write lock past the busy timeout."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc) for word in ("database is locked", "database is busy"))


def epoch_now(now: datetime | None) -> int:
    """`now` (the caller's clock: the daemon's, a test's) in epoch seconds; None: the wall clock."""
    return int(time.time()) if now is None else to_epoch(now)


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _create_private(path: Path) -> None:
    """The database holds list mail and the relay token key: a new one is created 0600 (SQLite
    gives its -wal and -shm files the same mode), folders the bridge creates 0700. Existing
    ones keep their mode (under systemd, StateDirectory= sets it)."""
    try:
        missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
        for directory in reversed(missing):  # mkdir(parents=True) gives parents the default mode
            directory.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create state database {path}: {exc.strerror}") from exc
    os.close(fd)


class Store:
    """A connection to the state database, migrated to this code's schema on open."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | Path, timeout: float = 30.0) -> Store:
        """`timeout`: how long a statement waits for another process's write lock."""
        path = str(path)
        if path != ":memory:":
            _create_private(Path(path))
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=timeout)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open state database {path}: {exc}") from exc
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        store = cls(conn, path)
        store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def integrity_problem(self) -> str | None:
        """The first damage `PRAGMA quick_check` finds, or None for a sound database."""
        row = self.conn.execute("PRAGMA quick_check(1)").fetchone()
        return None if row is not None and row[0] == "ok" else str(row[0] if row else "?")

    def migrate(self) -> None:
        """Apply every migration newer than the database, each in its own transaction."""
        current = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        migrations = _migrations()
        if current > len(migrations):
            raise StoreError(
                f"state database {self.path} has schema version {current}, newer than this "
                f"listserv-bridge ({len(migrations)}); upgrade listserv-bridge or restore a backup"
            )
        for number, name, sql in migrations[current:]:
            try:
                self.conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise StoreError(f"migration {name} failed: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: everything inside commits together or not at all."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- cursors ---------------------------------------------------------------------------
    def get_cursor(self, folder: str) -> Cursor | None:
        row = self.conn.execute(
            "SELECT uidvalidity, last_uid FROM cursors WHERE folder = ?", (folder,)
        ).fetchone()
        return Cursor(folder, int(row[0]), int(row[1])) if row else None

    def cursors(self) -> list[Cursor]:
        rows = self.conn.execute("SELECT folder, uidvalidity, last_uid FROM cursors ORDER BY folder")
        return [Cursor(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    def set_cursor(self, cursor: Cursor, now: datetime | None = None) -> None:
        self.conn.execute(
            "INSERT INTO cursors(folder, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
            "last_uid = excluded.last_uid, updated_at = excluded.updated_at",
            (cursor.folder, cursor.uidvalidity, cursor.last_uid, epoch_now(now)),
        )

    # -- problems --------------------------------------------------------------------------
    def add_problem(self, problem: Problem, now: datetime | None = None) -> None:
        self.conn.execute(
            "INSERT INTO problems(source, reason, message_id, size, seen_at) VALUES (?, ?, ?, ?, ?)",
            (problem.source, problem.reason, problem.message_id, problem.size, epoch_now(now)),
        )

    def problems(self, limit: int = 100) -> list[Problem]:
        rows = self.conn.execute(
            "SELECT source, reason, message_id, size FROM problems ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [Problem(r[0], r[1], r[2], int(r[3])) for r in rows]

    def count(self, table: str) -> int:
        if table not in {"messages", "threads", "problems", "cursors"}:
            raise ValueError(f"unknown table {table}")
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def count_by_status(self, table: str) -> dict[str, int]:
        """Rows of `table` (posts, replies, relays) per status: what `status` shows."""
        if table not in {"posts", "replies", "relays"}:
            raise ValueError(f"unknown table {table}")
        rows = self.conn.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status")
        return {str(k): int(v) for k, v in rows}

    def count_status(self, table: str, status: str) -> int:
        """Rows of `table` (posts, replies, relays) in `status`: what the metrics gauges show."""
        if table not in {"posts", "replies", "relays"}:
            raise ValueError(f"unknown table {table}")
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE status = ?",
                                     (status,)).fetchone()[0])
