"""Messages and threads in the store: add a parsed mail, keep thread components, read threads back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from bridge.mail.threading import (
    DEFAULT_SUBJECT_WINDOW,
    RootCandidate,
    linked_ids,
    pick_root,
    subject_links,
    trust_links,
)
from bridge.model import Author, Flag, Mail, ThreadView
from bridge.store.db import Store, epoch_now, from_epoch, to_epoch

_COLUMNS = (
    "message_id, thread_id, parent_id, refs, subject, subject_norm, is_reply, author_name, "
    "author_address, date, list_id, archived_at, message_id_hash, flags, body, size, "
    "has_message_id, source, ingested_at, list_archive"
)
_SELECT = (
    "SELECT message_id, parent_id, refs, subject, subject_norm, is_reply, author_name, "
    "author_address, date, list_id, archived_at, message_id_hash, flags, body, size, "
    "has_message_id, list_archive FROM messages"
)


def _row_to_mail(row: sqlite3.Row | tuple[object, ...]) -> Mail:
    """A messages row (columns as in _SELECT) as a Mail, each column read by its name."""
    (message_id, parent_id, refs, subject, subject_norm, is_reply, author_name, author_address,
     date, list_id, archived_at, message_id_hash, flags, body, size, has_message_id,
     list_archive) = row
    return Mail(
        message_id=str(message_id),
        in_reply_to=None if parent_id is None else str(parent_id),
        references=tuple(str(refs).split()),
        subject=str(subject),
        subject_norm=str(subject_norm),
        is_reply_subject=bool(is_reply),
        author=Author(str(author_name), str(author_address)),
        date=from_epoch(int(str(date))),
        list_id=_text(list_id),
        archived_at=_text(archived_at),
        message_id_hash=_text(message_id_hash),
        flags=frozenset(Flag(f) for f in str(flags).split(",") if f),
        body=_text(body),
        size=int(str(size)),
        has_message_id=bool(has_message_id),
        list_archive=_text(list_archive),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class MailStore:
    """Thread-aware message storage on top of a `Store` (callers own the transaction)."""

    def __init__(self, store: Store, subject_window: timedelta = DEFAULT_SUBJECT_WINDOW) -> None:
        self.store = store
        self.conn = store.conn
        self.subject_window = subject_window
        self._dirty: set[int] = set()

    def has_message(self, message_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM messages WHERE message_id = ?", (message_id,))
        return row.fetchone() is not None

    def has_relays(self) -> bool:
        return bool(self.conn.execute("SELECT EXISTS(SELECT 1 FROM relays)").fetchone()[0])

    def is_relay_id(self, message_id: str) -> bool:
        """Is this the Message-ID of a relay email the bridge itself sent?"""
        row = self.conn.execute("SELECT 1 FROM relays WHERE message_id = ?", (message_id,))
        return row.fetchone() is not None

    def add_mail(self, mail: Mail, source: str, now: datetime | None = None) -> int | None:
        """Store a new message and thread it; returns its thread id, None for a duplicate.
        `now`: when it was ingested, on the caller's clock (the mass-new guard compares it with
        due times computed from that clock); None: the wall clock.

        All or nothing: on any error the message's rows are rolled back (a savepoint inside the
        caller's transaction) and the error raised, so the caller can record it and go on.
        """
        dirty = set(self._dirty)
        self.conn.execute("SAVEPOINT add_mail")
        try:
            thread_id = self._add_mail(mail, source, now)
        except BaseException:
            self.conn.execute("ROLLBACK TO add_mail")
            self.conn.execute("RELEASE add_mail")
            self._dirty = dirty
            raise
        self.conn.execute("RELEASE add_mail")
        return thread_id

    def _add_mail(self, mail: Mail, source: str, now: datetime | None) -> int | None:
        if self.has_message(mail.message_id):
            return None
        ids = linked_ids(mail)
        known = self._threads_of_ids(ids)
        thread_ids = set(known.values()) | self._threads_by_subject(mail)
        if not trust_links(thread_ids, self._rooted(thread_ids)):
            # distrusted: join only the parent's thread (or the one waiting for this id) and
            # leave every id that names another thread where it is
            thread_ids = {known[i] for i in (mail.in_reply_to, mail.message_id) if i in known}
            thread_ids = set(sorted(thread_ids)[:1])
            ids = tuple(i for i in ids if i not in known or known[i] in thread_ids)
        thread_id = self._merge(thread_ids) if thread_ids else self._new_thread(mail.date)
        self.conn.executemany(
            "INSERT INTO id_threads(ref_id, thread_id) VALUES (?, ?) "
            "ON CONFLICT(ref_id) DO UPDATE SET thread_id = excluded.thread_id",
            [(i, thread_id) for i in ids],
        )
        self.conn.execute(
            f"INSERT INTO messages({_COLUMNS}) VALUES ({', '.join('?' * 20)})",
            (
                mail.message_id, thread_id, mail.in_reply_to, " ".join(mail.references),
                mail.subject, mail.subject_norm, int(mail.is_reply_subject), mail.author.name,
                mail.author.address, to_epoch(mail.date), mail.list_id, mail.archived_at,
                mail.message_id_hash, ",".join(sorted(mail.flags)), mail.body, mail.size,
                int(mail.has_message_id), source, epoch_now(now), mail.list_archive,
            ),
        )
        self._dirty.add(thread_id)
        return thread_id

    def flush(self) -> None:
        """Recompute root and counts of the threads touched since the last flush.

        Call inside the same transaction as the `add_mail` calls, before it commits.
        """
        for thread_id in sorted(self._dirty):
            self._refresh_thread(thread_id)
        self._dirty.clear()

    def _threads_of_ids(self, ids: tuple[str, ...]) -> dict[str, int]:
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT ref_id, thread_id FROM id_threads WHERE ref_id IN ({marks})", ids
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def _rooted(self, thread_ids: set[int]) -> set[int]:
        """Those of the threads that hold a message starting a conversation (no parent, no Re:)."""
        if len(thread_ids) < 2:
            return set()
        marks = ",".join("?" * len(thread_ids))
        rows = self.conn.execute(
            f"SELECT DISTINCT thread_id FROM messages WHERE thread_id IN ({marks}) "
            "AND parent_id IS NULL AND is_reply = 0", sorted(thread_ids)
        )
        return {int(r[0]) for r in rows}

    def _threads_by_subject(self, mail: Mail) -> set[int]:
        found: set[int] = set()
        for link in subject_links(mail, self.subject_window):
            sql = (
                "SELECT DISTINCT thread_id FROM messages WHERE subject_norm = ? "
                "AND date BETWEEN ? AND ? AND message_id != ?"
            )
            if link.only_unreferenced_replies:
                sql += " AND is_reply = 1 AND refs = ''"
            args = (link.subject_norm, to_epoch(link.start), to_epoch(link.end), mail.message_id)
            found.update(int(r[0]) for r in self.conn.execute(sql, args))
        return found

    def _new_thread(self, date: datetime) -> int:
        epoch = to_epoch(date)
        cur = self.conn.execute(
            "INSERT INTO threads(first_date, last_date) VALUES (?, ?)", (epoch, epoch)
        )
        return int(cur.lastrowid or 0)

    def _merge(self, thread_ids: set[int]) -> int:
        """Fold several threads into the oldest-numbered one: a late parent joined them."""
        keep = min(thread_ids)
        others = sorted(thread_ids - {keep})
        if others:
            marks = ",".join("?" * len(others))
            self.conn.execute(
                f"UPDATE messages SET thread_id = ? WHERE thread_id IN ({marks})", (keep, *others)
            )
            self.conn.execute(
                f"UPDATE id_threads SET thread_id = ? WHERE thread_id IN ({marks})", (keep, *others)
            )
            self.conn.execute(f"DELETE FROM threads WHERE id IN ({marks})", others)
            self._dirty.difference_update(others)
        return keep

    def _refresh_thread(self, thread_id: int) -> None:
        rows = self.conn.execute(
            "SELECT message_id, parent_id, is_reply, refs = '', date FROM messages "
            "WHERE thread_id = ? ORDER BY date, message_id", (thread_id,)
        ).fetchall()
        if not rows:
            return
        members = [RootCandidate(str(r[0]), from_epoch(int(r[4])), bool(r[2]), not r[3])
                   for r in rows]
        root = pick_root(members, {str(r[0]): r[1] for r in rows})
        self.conn.execute(
            "UPDATE threads SET root_id = ?, first_date = ?, last_date = ?, message_count = ? "
            "WHERE id = ?",
            (root.message_id, int(rows[0][4]), int(rows[-1][4]), len(rows), thread_id),
        )

    def thread_mails(self, thread_id: int) -> list[Mail]:
        rows = self.conn.execute(
            f"{_SELECT} WHERE thread_id = ? ORDER BY date, message_id", (thread_id,)
        )
        return [_row_to_mail(r) for r in rows]

    def author_names(self, limit: int = 5000) -> tuple[str, ...]:
        """Names of the people who wrote to the list, most recent first (for scrubbing posts)."""
        rows = self.conn.execute(
            "SELECT author_name FROM messages WHERE author_name != '' GROUP BY author_name "
            "ORDER BY MAX(date) DESC LIMIT ?", (limit,))
        return tuple(str(r[0]) for r in rows)

    def recent_roots(self, limit: int = 30) -> list[Mail]:
        """The roots of the most recent threads (what `check` looks at for a link source)."""
        rows = self.conn.execute(
            f"{_SELECT} WHERE message_id IN (SELECT root_id FROM threads "
            "ORDER BY first_date DESC LIMIT ?) ORDER BY date DESC", (limit,))
        return [_row_to_mail(r) for r in rows]

    def sources_of(self, message_ids: Iterable[str], chunk: int = 500) -> set[str]:
        """Where these messages came from ("mbox:PATH #N"...), to read just them again."""
        ids, found = list(message_ids), set[str]()
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                f"SELECT source FROM messages WHERE message_id IN ({marks})", part)
            found.update(str(r[0]) for r in rows)
        return found

    def get_mail(self, message_id: str) -> Mail | None:
        row = self.conn.execute(f"{_SELECT} WHERE message_id = ?", (message_id,)).fetchone()
        return _row_to_mail(row) if row else None

    def thread(self, thread_id: int) -> ThreadView | None:
        row = self.conn.execute(
            "SELECT root_id FROM threads WHERE id = ?", (thread_id,)
        ).fetchone()
        if row is None:
            return None
        mails = self.thread_mails(thread_id)
        root = next(m for m in mails if m.message_id == row[0])
        return ThreadView(thread_id, root, tuple(mails), state=thread_state(root, mails))

    def last_date(self) -> datetime | None:
        """The date of the newest message in any thread; None when the store is empty."""
        row = self.conn.execute("SELECT MAX(last_date) FROM threads").fetchone()
        return from_epoch(int(row[0])) if row[0] is not None else None

    def ingested_at(self, message_id: str) -> datetime | None:
        """When this message was first stored; None when it is not in the store."""
        row = self.conn.execute("SELECT ingested_at FROM messages WHERE message_id = ?",
                                (message_id,)).fetchone()
        return from_epoch(int(row[0])) if row else None

    def threads(self, active_since: datetime | None = None) -> Iterator[ThreadView]:
        """Every thread (or those with a message since `active_since`), oldest root first."""
        sql = "SELECT id FROM threads"
        args: tuple[int, ...] = ()
        if active_since is not None:
            sql += " WHERE last_date >= ?"
            args = (to_epoch(active_since),)
        ids = [int(r[0]) for r in self.conn.execute(sql + " ORDER BY first_date, id", args)]
        for thread_id in ids:
            view = self.thread(thread_id)
            if view is not None:
                yield view


def thread_state(root: Mail, mails: Iterable[Mail]) -> str:
    """A coarse state for listings: "replied" once anyone but the asker wrote, else "open"."""
    for m in mails:
        if Flag.OURS in m.flags:
            return "answered_via_x"
    for m in mails:
        if m.message_id != root.message_id and m.author != root.author:
            return "replied"
    return "open"
