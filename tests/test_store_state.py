"""store.state: the daemon's bookkeeping written per cycle and read back as named values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.store.db import Store
from bridge.store.state import StageStatus, record_cycle, stage_statuses, state_time

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_cycle_records_each_stage_and_the_cycle_times(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    record_cycle(store, ("ingest", "relay"), {}, T0, T0 + timedelta(hours=2))
    record_cycle(store, ("ingest", "relay"), {"relay": "smtp down"}, T0 + timedelta(minutes=5), None)
    statuses = {s.stage: s for s in stage_statuses(store)}
    assert statuses["ingest"] == StageStatus("ingest", T0 + timedelta(minutes=5), "", None, 0)
    assert statuses["relay"] == StageStatus("relay", T0, "smtp down", T0 + timedelta(minutes=5), 1)
    assert state_time(store, "last_cycle_at") == T0 + timedelta(minutes=5)
    assert state_time(store, "last_ok_cycle_at") == T0  # the second cycle had an error
    assert state_time(store, "next_due_at") == T0 + timedelta(hours=2)
    assert state_time(store, "never_set") is None
    store.close()
