"""The single-instance lock on the state database, across real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.errors import BridgeError, StoreError
from bridge.service.lock import AlreadyRunning, StateLock, lock_path_for, read_lock_pid

# Holds the lock, says so, then waits at most 60 s for the test to kill it (never loops forever).
HOLDER = """
import sys, time
from bridge.service.lock import StateLock
lock = StateLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def start_holder(db: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_the_lock_file_sits_next_to_the_database_and_holds_our_pid(tmp_path: Path) -> None:
    db = tmp_path / "bridge.sqlite3"
    with StateLock(db) as lock:
        assert lock.held
        assert lock.path == tmp_path / "bridge.sqlite3.lock"
        assert read_lock_pid(lock.path) == os.getpid()
        assert lock.path.stat().st_mode & 0o777 == 0o600
    assert not lock.held


def test_a_second_instance_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    db = tmp_path / "bridge.sqlite3"
    proc = start_holder(db)
    try:
        with pytest.raises(AlreadyRunning) as refused, StateLock(db):
            pass
        assert refused.value.pid == proc.pid
        assert f"PID {proc.pid}" in str(refused.value)
        assert isinstance(refused.value, BridgeError)
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    """SIGKILL gives the process no chance to clean up: the kernel drops the flock."""
    db = tmp_path / "bridge.sqlite3"
    proc = start_holder(db)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert lock_path_for(db).exists()  # the file stays; only the lock on it mattered
    with StateLock(db) as lock:
        assert read_lock_pid(lock.path) == os.getpid()


def test_two_locks_in_one_process_also_exclude_each_other(tmp_path: Path) -> None:
    """flock belongs to the open file: a second open in the same process does not share it."""
    db = tmp_path / "bridge.sqlite3"
    with StateLock(db), pytest.raises(AlreadyRunning):
        StateLock(db).acquire()


def test_after_release_the_next_instance_gets_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "bridge.sqlite3"
    first = StateLock(db)
    first.acquire()
    first.release()
    assert read_lock_pid(first.path) is None  # no stale PID to mislead a reader
    with StateLock(db) as second:
        assert second.held


def test_the_lock_is_released_when_the_body_raises(tmp_path: Path) -> None:
    db = tmp_path / "bridge.sqlite3"
    with pytest.raises(RuntimeError), StateLock(db):
        raise RuntimeError("cycle crashed")
    with StateLock(db) as again:
        assert again.held


def test_a_holder_that_wrote_no_pid_yet_is_still_refused(tmp_path: Path) -> None:
    db = tmp_path / "bridge.sqlite3"
    with StateLock(db) as lock:
        lock.path.write_text("")
        with pytest.raises(AlreadyRunning, match="another process") as refused:
            StateLock(db).acquire()
    assert refused.value.pid is None


def test_a_missing_directory_is_a_store_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the lock file"):
        StateLock(tmp_path / "missing" / "bridge.sqlite3").acquire()


# Tries the lock once and reports: "locked" or "refused PID".
TRY_ONCE = """
import sys
from bridge.service.lock import AlreadyRunning, StateLock
try:
    with StateLock(sys.argv[1]):
        print("locked")
except AlreadyRunning as exc:
    print("refused", exc.pid)
"""


def test_a_lock_file_we_cannot_write_still_locks_read_only(tmp_path: Path) -> None:
    """A lock file left by root must neither stop the service user nor let two instances run.
    The child runs without write access to it (as root: with every capability dropped)."""
    db = tmp_path / "bridge.sqlite3"
    lock_path_for(db).write_text("")
    lock_path_for(db).chmod(0o444)
    no_caps = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--securebits=+noroot"]
    prefix = no_caps if os.geteuid() == 0 else []

    def try_once() -> str:
        result = subprocess.run([*prefix, sys.executable, "-c", TRY_ONCE, str(db)],
                                capture_output=True, text=True, timeout=60, check=True)
        return result.stdout.strip()

    holder_writes = os.access(lock_path_for(db), os.W_OK)  # root can, a normal user cannot
    with StateLock(db):
        assert try_once() == f"refused {os.getpid() if holder_writes else None}"
    assert try_once() == "locked"
    assert lock_path_for(db).read_text() == ""
