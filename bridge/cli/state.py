"""Which state database a command uses, and opening it with a clear word instead of a traceback.

Only `ingest` and `run` may create a database; every other command reads one that exists, and says
where it looked when it does not. An explicit `--db` never creates missing folders (a typo must not
leave an empty database behind).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.errors import BridgeError, StoreError

if TYPE_CHECKING:
    from bridge.config.settings import Config
    from bridge.store.db import Store


DEFAULT_TIMEOUT = 30.0  # seconds a command waits for another process's write lock


class DatabaseMissing(BridgeError):
    """A read-only command was pointed at a database that does not exist."""


def where_from(config: Config, override: str | None) -> str:
    """Why the command looked at this path (for error messages)."""
    if override:
        return "given by --db"
    if config.store.path:
        return f"[store] path in {config.source}"
    if os.environ.get("STATE_DIRECTORY"):
        return "the default in $STATE_DIRECTORY"
    return "the default in the current folder (no --db, no [store] path)"


def resolve_db(config: Config, override: str | None, *, create: bool) -> str:
    """The database path for a command, checked before anything touches the disk."""
    path = Path(config.db_path(override))
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise StoreError(f"cannot use {path} as the state database: {parent} is a file, not a folder")
    if path.is_dir():
        raise StoreError(f"cannot use {path} as the state database: it is a folder")
    if path.exists():
        return str(path)
    if not create:
        raise DatabaseMissing(
            f"no state database at {path.absolute()} ({where_from(config, override)}).\n"
            f"Create one with `listserv-bridge ingest --mbox ARCHIVE --db {path}` (or `ingest` / "
            f"`run` with an [imap] config), or point --db or [store] path at the existing one."
        )
    if override and not parent.exists():
        raise StoreError(
            f"the folder {parent.absolute()} does not exist: check --db for a typo, or create it "
            f"first (mkdir -p {parent})"
        )
    return str(path)


@contextmanager
def open_db(config: Config, override: str | None, *, create: bool = False,
            timeout: float = DEFAULT_TIMEOUT) -> Iterator[Store]:
    """The command's Store, closed afterwards; sqlite errors become a clear StoreError."""
    from bridge.store.db import Store

    path = resolve_db(config, override, create=create)
    try:
        store = Store.open(path, timeout=timeout)
    except OSError as exc:
        raise StoreError(f"cannot open the state database {path}: {exc.strerror or exc}") from None
    try:
        yield store
    finally:
        store.close()


def check_integrity(store: Store) -> None:
    """Refuse to write into a damaged database (it would report nothing new, and lose mail)."""
    problem = store.integrity_problem()
    if problem is not None:
        raise sqlite3.DatabaseError(f"database disk image is malformed ({problem})")


def explain_sqlite_error(exc: sqlite3.Error, path: str) -> str:
    """What an admin can do about a database error, in one or two sentences."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (f"the state database {path} stayed locked past the timeout: another "
                f"listserv-bridge process (`run` or `ingest`) is writing to it; try again when it "
                f"is done ({text})")
    if isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in text or "not a database" in text or "corrupt" in text
    ):
        return (f"the state database {path} is damaged ({text}): restore it from a backup, or "
                f"move it aside and rebuild it with `listserv-bridge ingest` (docs/deploy.md)")
    return f"the state database {path} cannot be used: {text}"
