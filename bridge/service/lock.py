"""One daemon per state database: an exclusive flock on "<database>.lock" holding our PID.

flock belongs to the open file, so the kernel drops it when the process dies however it dies
(SIGKILL, OOM, power loss of the process): there is never a stale lock to clean up by hand.
The file itself stays; only the lock on it matters (unlinking it would let two processes lock
two different inodes of the same name).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from bridge.errors import BridgeError, StoreError


class AlreadyRunning(BridgeError):
    """Another process holds the state database's lock."""

    def __init__(self, lock_path: Path, pid: int | None) -> None:
        self.lock_path = lock_path
        self.pid = pid
        who = f"PID {pid}" if pid else "another process"
        super().__init__(
            f"another listserv-bridge ({who}) is already using this state database "
            f"(lock {lock_path}); stop it first (systemctl stop listserv-bridge)"
        )


def lock_path_for(db_path: str | Path) -> Path:
    return Path(f"{db_path}.lock")


def read_lock_pid(path: Path) -> int | None:
    """The PID written by the lock's holder, if it wrote one yet."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class StateLock:
    """`with StateLock(db_path):` ... raises AlreadyRunning when another process holds it."""

    def __init__(self, db_path: str | Path) -> None:
        self.path = lock_path_for(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(self.path, read_lock_pid(self.path)) from None
        except BaseException:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):  # opened read-only: locked all the same, just no PID
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except PermissionError:
            pass  # e.g. left by root: flock needs no write access, so read-only still excludes
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {self.path}: {exc.strerror}") from None
        try:
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {self.path}: {exc.strerror}") from None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no stale PID for the next reader; still locked until close
        os.close(fd)

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
