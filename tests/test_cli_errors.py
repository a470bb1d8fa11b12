"""The CLI gives a clear word and an exit status, never a traceback, and read-only commands create
nothing: missing or mistyped databases, a file where a folder should be, a locked or damaged
database, Ctrl-C during a parallel import, and `status --problems`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.model import Problem
from bridge.store.db import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sololibrarians.mbox"
READ_ONLY = (["status"], ["threads"], ["preview"], ["moderate", "list"], ["release"])


def ingest(db: Path, *extra: str) -> int:
    return main(["ingest", "--mbox", str(EXAMPLE), "--db", str(db), "--no-progress", *extra])


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: " ".join(c))
def test_read_only_commands_on_a_missing_database_say_where_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    db = tmp_path / "nested" / "bridge.sqlite3"
    assert main([*command, "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"no state database at {db}" in err and "given by --db" in err
    assert "listserv-bridge ingest" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither the file nor its folder


def test_the_default_path_is_named_too(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "bridge.sqlite3") in err and "current folder" in err
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_db_folder_is_refused_not_created(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert ingest(tmp_path / "stat" / "bridge.sqlite3") == 1
    err = capsys.readouterr().err
    assert "does not exist: check --db for a typo" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["ingest", "--mbox", str(EXAMPLE)], ["status"], ["threads"]])
def test_db_whose_parent_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   command: list[str]) -> None:
    (tmp_path / "afile").write_text("x")
    assert main([*command, "--db", str(tmp_path / "afile" / "b.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err


def test_a_database_locked_past_the_timeout_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "b.sqlite3"
    assert ingest(db) == 0
    capsys.readouterr()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
    try:
        assert ingest(db, "--db-timeout", "0.2") == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    err = capsys.readouterr().err
    assert "stayed locked past the timeout" in err and "another listserv-bridge" in err


def _damage(db: Path) -> None:
    """Overwrite the messages table's leaf pages: the schema still reads, the rows do not."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = [int(r[0]) for r in conn.execute(
        "SELECT pageno FROM dbstat WHERE name IN ('messages', 'id_threads') AND pagetype = 'leaf'")]
    conn.close()
    assert pages
    with open(db, "r+b") as handle:
        for page in pages:
            handle.seek((page - 1) * size)
            handle.write(b"\xde\xad\xbe\xef" * (size // 4))


@pytest.mark.parametrize("command", [["status"], ["threads"], ["preview"],
                                     ["ingest", "--mbox", str(EXAMPLE)]])
def test_a_damaged_database_is_named_damaged(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             command: list[str]) -> None:
    db = tmp_path / "b.sqlite3"
    assert ingest(db) == 0
    _damage(db)
    capsys.readouterr()
    assert main([*command, "--db", str(db)]) == 1  # ingest: not "0 new", exit 0
    captured = capsys.readouterr()
    assert "is damaged" in captured.err and "backup" in captured.err
    assert "ingested" not in captured.out


def test_status_problems_lists_reasons_newest_first_and_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "b.sqlite3"
    store = Store.open(db)
    with store.transaction():
        for i in range(30):
            store.add_problem(Problem(f"mbox:test #{i}", f"reason number {i}", None, 10))
    store.close()
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "(30 problems)" in out and "status --problems" in out and "reason number" not in out
    assert main(["status", "--db", str(db), "--problems", "5"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines() if "reason number" in line]
    assert lines == [f"mbox:test #{i}: reason number {i}" for i in (29, 28, 27, 26, 25)]
    assert main(["status", "--db", str(db), "--problems", "--json"]) == 0
    recent = json.loads(capsys.readouterr().out)["recent_problems"]
    assert len(recent) == 20 and recent[0]["reason"] == "reason number 29"


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_ctrl_c_during_a_parallel_import_prints_no_traceback(tmp_path: Path) -> None:
    mbox = tmp_path / "big.mbox"
    subprocess.run([sys.executable, str(ROOT / "bench" / "corpus.py"), "--messages", "3000",
                    "--out", str(mbox)], check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "ingest", "--mbox", str(mbox), "--db",
         str(tmp_path / "b.sqlite3"), "--workers", "2", "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        for _ in range(300):  # parser processes starting (spawned, so they start slowly)
            if len(_children(proc.pid)) >= 1 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the import ended before the test could interrupt it"
        time.sleep(0.2)  # while they start up (or parse): the parent stops, and nobody prints
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
