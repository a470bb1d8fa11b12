"""network_sessions (migration 011): a network's login session kept between runs.

Bluesky limits how many sessions an account may open a day; the bridge opens one, keeps it here
and refreshes it. The adapter sees a SessionVault (load/save), never SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.store.db import Store, from_epoch, to_epoch


class StoredSession:
    """The session of one network in the state database at `db_path` (a short connection per
    call: it is read once per process and written at each refresh, about every two hours)."""

    def __init__(self, db_path: str, network: str) -> None:
        self.db_path = db_path
        self.network = network

    def load(self) -> tuple[str, datetime] | None:
        store = Store.open(self.db_path)
        try:
            row = store.conn.execute("SELECT session, created_at FROM network_sessions "
                                     "WHERE network = ?", (self.network,)).fetchone()
        finally:
            store.close()
        return (str(row[0]), from_epoch(int(row[1]))) if row else None

    def save(self, session: str, created_at: datetime | None) -> None:
        now = to_epoch(datetime.now(UTC))
        store = Store.open(self.db_path)
        try:
            with store.transaction() as conn:
                conn.execute(
                    "INSERT INTO network_sessions(network, session, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(network) DO UPDATE SET session = "
                    "excluded.session, updated_at = excluded.updated_at, created_at = CASE WHEN ? "
                    "THEN excluded.created_at ELSE created_at END",
                    (self.network, session, to_epoch(created_at) if created_at else now, now,
                     created_at is not None))
        finally:
            store.close()

    def created_at(self) -> datetime | None:
        found = self.load()
        return found[1] if found else None
