"""The store: migrations, refusing newer databases, cursors and problems surviving reopen."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from bridge.errors import StoreError
from bridge.model import Cursor, Problem
from bridge.store.db import Store, schema_version


def test_new_database_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema_version() + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this"):
        Store.open(path)


def test_cursor_and_problems_persist_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    store = Store.open(path)
    with store.transaction():
        store.set_cursor(Cursor("INBOX", 7, 42))
        store.add_problem(Problem("mbox:x #3", "no header fields", None, 12))
    store.close()
    store = Store.open(path)
    assert store.get_cursor("INBOX") == Cursor("INBOX", 7, 42)
    assert store.get_cursor("Other") is None
    assert store.problems() == [Problem("mbox:x #3", "no header fields", None, 12)]
    store.close()


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    with pytest.raises(RuntimeError), store.transaction():
        store.set_cursor(Cursor("INBOX", 1, 5))
        raise RuntimeError("crash mid-batch")
    assert store.get_cursor("INBOX") is None
    store.close()


def test_a_new_database_is_private_and_so_are_the_folders_the_bridge_creates(
        tmp_path: Path) -> None:
    """Issue 13: outside systemd the database (list mail, the relay token key) was 0644."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "state" / "deep" / "bridge.sqlite3"
        store = Store.open(path)
        with store.transaction():
            store.set_cursor(Cursor("INBOX", 1, 1))  # the WAL file exists now
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert modes["bridge.sqlite3"] == 0o600 and modes["bridge.sqlite3-wal"] == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite3"
    Store.open(path).close()
    path.chmod(0o640)
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
