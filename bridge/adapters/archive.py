"""Local archives as streams of RawMail: mbox (mboxo/mboxrd, MMDF) and Maildir trees.

Both read one message at a time, so memory stays flat whatever the archive's size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from bridge.errors import BridgeError
from bridge.mail.parse import MESSAGE_HEAD_BYTES
from bridge.model import RawMail

# A separator is "From <sender> <asctime date>"; a body line "From here on" is not one.
_FROM_LINE = re.compile(
    rb"^From (?:\S+ at \S+|\S*)\s+"
    rb"(?P<date>\w{3} \w{3}\s+\d{1,2} \d{1,2}:\d{2}(?::\d{2})?(?: [A-Z]{3,4})? \d{4})"
)
_MMDF_MARK = b"\x01\x01\x01\x01"

Progress = Callable[[int], None]  # called with bytes consumed since the last call


_MONTHS = {m: i for i, m in enumerate(
    (b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"), 1)}


def _from_line_date(line: bytes) -> datetime | None:
    """The asctime date of a From_ line ("Mon Nov  2 09:15:00 2026"), read without strptime:
    it is parsed for every message of an archive."""
    match = _FROM_LINE.match(line)
    if not match:
        return None
    parts = match.group("date").split()
    clock = parts[3].split(b":")
    try:
        return datetime(int(parts[-1]), _MONTHS[parts[1][:3].lower()], int(parts[2]),
                        int(clock[0]), int(clock[1]), int(clock[2]) if len(clock) > 2 else 0,
                        tzinfo=UTC)
    except (KeyError, ValueError):
        return None


def check_archive(path: str | Path, *, maildir: bool) -> None:
    """Refuse, with the reason, a path that is not the kind of archive the user named."""
    where = Path(path)
    if not where.exists():
        raise BridgeError(f"no such archive: {path}")
    if maildir and not where.is_dir():
        raise BridgeError(f"--maildir {path} is a file, not a folder: use --mbox for an mbox file")
    if not maildir and where.is_dir():
        raise BridgeError(f"--mbox {path} is a folder, not an mbox file: use --maildir for a "
                          "Maildir tree or a folder of message files")


def read_mbox(path: str | Path, progress: Progress | None = None) -> Iterator[RawMail]:
    """Yield each message of an mbox file; `>From ` lines are unescaped (mboxrd and mboxo)."""
    with open(path, "rb") as handle:
        first = handle.readline()
        handle.seek(0)
        if first.rstrip(b"\r\n") == _MMDF_MARK:
            yield from _read_mmdf(handle, str(path), progress)
        else:
            yield from _read_from_separated(handle, str(path), progress)


_CHUNK = 1 << 20
_ESCAPED = re.compile(rb"^>(>*From )", re.MULTILINE)


def _blank_before(buf: bytes, pos: int) -> bool:
    """Is the line ending at buf[pos] ("\n") preceded by an empty line (LF or CRLF)?"""
    return buf[pos - 1 : pos] == b"\n" or buf[pos - 2 : pos] == b"\n\r"


@dataclass(slots=True)
class _Oversize:
    """The first MESSAGE_HEAD_BYTES of a message too long to hold, and how much was passed over."""

    head: bytes = b""
    dropped: int = 0

    def message(self, rest: bytes) -> tuple[bytes, int]:
        """(bytes to keep, the message's full size) once `rest` ends it."""
        if not self.head:
            return rest[:MESSAGE_HEAD_BYTES], len(rest)
        return self.head, self.dropped + len(rest)  # the head is part of what was dropped


def _read_from_separated(
    handle: BinaryIO, name: str, progress: Progress | None
) -> Iterator[RawMail]:
    """Split on From_ lines (after a blank line), scanning chunks with bytes.find.

    The buffer starts with a virtual blank line so a From_ line at the very start is found like
    any other. Text before the first From_ line (or a file with none) is yielded as a message too,
    and so is the white space after a From_ line: nothing is dropped silently. Of a message longer
    than MESSAGE_HEAD_BYTES only its head is kept (memory stays flat whatever the archive holds).
    """
    buf = b"\n\n"
    body_start = 2  # where the current message's text starts in buf
    index = 0
    stamp: datetime | None = None
    started = False  # a From_ line was seen: what follows it is a message, however empty
    big = _Oversize()
    search_from = 0
    while chunk := handle.read(_CHUNK):
        if progress:
            progress(len(chunk))
        buf += chunk
        while True:
            pos = buf.find(b"\nFrom ", search_from)
            if pos < 0:
                search_from = max(search_from, len(buf) - 5)  # a partial "\nFrom" may end buf
                break
            eol = buf.find(b"\n", pos + 1)
            if eol < 0:
                search_from = pos  # the From_ line is not complete yet: look again later
                break
            search_from = pos + 1
            if not _blank_before(buf, pos) or not _FROM_LINE.match(buf[pos + 1 : eol]):
                continue  # "From here on" in a body: not a separator
            text = buf[body_start : pos - 1 if buf[pos - 1] == 13 else pos]
            if started or text.strip() or big.head:  # after a From_ line even white space counts
                index += 1
                yield _message(*big.message(text), name, index, stamp)
            started, big = True, _Oversize()
            stamp = _from_line_date(buf[pos + 1 : eol])
            body_start = search_from = eol + 1
        if not big.head and len(buf) - body_start > MESSAGE_HEAD_BYTES:
            big.head = buf[body_start : body_start + MESSAGE_HEAD_BYTES]
        if big.head and search_from - 2 > body_start:  # pass over what is scanned, keep the head
            cut = search_from - 2
            big.dropped += cut - body_start
            buf, body_start, search_from = buf[cut:], 0, search_from - cut
        elif body_start > 2:  # drop what was yielded, keeping two bytes for the blank-line check
            cut = body_start - 2
            buf, body_start, search_from = buf[cut:], 2, search_from - cut
    tail = buf[body_start:]
    if started or tail.strip() or big.head:
        yield _message(*big.message(tail.rstrip(b"\r\n") + b"\n"), name, index + 1, stamp)


def _message(data: bytes, size: int, name: str, index: int, stamp: datetime | None) -> RawMail:
    if b">From " in data:
        data = _ESCAPED.sub(rb"\1", data)
    return RawMail(data=data, source=f"mbox:{name} #{index}", size=size, internal_date=stamp)


def _read_mmdf(handle: BinaryIO, name: str, progress: Progress | None) -> Iterator[RawMail]:
    lines: list[bytes] = []
    kept = dropped = index = 0
    opened = False
    for line in iter(lambda: handle.readline(_CHUNK), b""):  # a huge line arrives in pieces
        if progress:
            progress(len(line))
        if line.rstrip(b"\r\n") == _MMDF_MARK:
            closing, opened = opened, not opened  # marks come in pairs: open, close
            if closing or any(x.strip() for x in lines):  # a closed message counts, even empty
                index += 1
                yield _raw(lines, f"mmdf:{name} #{index}", kept + dropped)
            lines, kept, dropped = [], 0, 0
            continue
        if kept + len(line) > MESSAGE_HEAD_BYTES:
            dropped += len(line)  # past the head: counted, not kept
            continue
        lines.append(line)
        kept += len(line)
    if any(x.strip() for x in lines):
        yield _raw(lines, f"mmdf:{name} #{index + 1}", kept + dropped)


def _raw(lines: list[bytes], source: str, size: int) -> RawMail:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the blank line before the next separator belongs to the mbox
    data = b"".join(lines)
    return RawMail(data=data, source=source, size=max(size, len(data)))


_METADATA = re.compile(  # files Dovecot, Courier and others keep next to the messages
    r"^(dovecot[.-].*|subscriptions|maildirfolder|maildirsize|courierimap.*|\..*)$"
)


def maildir_entries(root: str | Path) -> list[tuple[Path, str | None]]:
    """Every file under a Maildir (or Maildir++) tree: (path, None) for a message in cur/ or
    new/, (path, reason) for a file that is not read as one (in tmp/, or outside cur/ and new/).
    Only known metadata (Dovecot's index files, subscriptions, dot files) is left out.

    A folder with no cur/ or new/ anywhere is read as a plain folder of message files.
    """
    found: list[tuple[Path, str | None]] = []
    plain: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(Path(root)):
        dirnames.sort()
        here = Path(dirpath)
        files = sorted(here / f for f in filenames if not _METADATA.match(f))
        if here.name in ("cur", "new"):
            found.extend((f, None) for f in files)
        elif here.name == "tmp":
            found.extend((f, "in tmp/: a delivery that never finished; not read") for f in files)
        else:
            plain.extend(files)
    if not any(reason is None for _, reason in found):
        return [(f, None) for f in plain]
    stray: list[tuple[Path, str | None]] = [
        (f, "outside cur/ and new/ in a Maildir tree; not read") for f in plain]
    return sorted(found + stray)


def read_maildir(root: str | Path, progress: Progress | None = None) -> Iterator[RawMail]:
    """Yield each message of a Maildir tree, in file-name order (delivery order for Maildir);
    files that cannot be messages come as RawMail with a problem, never silently left out."""
    for path, reason in maildir_entries(root):
        source = f"maildir:{os.fsdecode(path).encode('utf-8', 'replace').decode('utf-8')}"
        if reason is None and not path.is_file():  # a FIFO would block the reader for ever
            reason = "not a regular file; not read"
        if reason is not None:
            yield RawMail(data=b"", source=source, problem=reason)
            continue
        try:
            with path.open("rb") as handle:
                data = handle.read(MESSAGE_HEAD_BYTES)
                size = max(len(data), os.fstat(handle.fileno()).st_size)
        except OSError as exc:
            yield RawMail(data=b"", source=source, problem=f"unreadable: {exc.strerror}")
            continue
        if progress:
            progress(size)
        yield RawMail(data=data, source=source, size=size)
