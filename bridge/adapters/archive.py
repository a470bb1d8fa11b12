"""Local archives as streams of RawMail: mbox (mboxo/mboxrd, MMDF) and Maildir trees.

Both read one message at a time, so memory stays flat whatever the archive's size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from bridge.model import RawMail

# A separator is "From <sender> <asctime date>"; a body line "From here on" is not one.
_FROM_LINE = re.compile(
    rb"^From (?:\S+ at \S+|\S*)\s+"
    rb"(?P<date>\w{3} \w{3}\s+\d{1,2} \d{1,2}:\d{2}(?::\d{2})?(?: [A-Z]{3,4})? \d{4})"
)
_ESCAPED_FROM = re.compile(rb"^>+From ")
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


def _read_from_separated(
    handle: BinaryIO, name: str, progress: Progress | None
) -> Iterator[RawMail]:
    """Split on From_ lines (after a blank line), scanning chunks with bytes.find.

    The buffer starts with a virtual blank line so a From_ line at the very start is found like
    any other. Text before the first From_ line (or a file with none) is yielded as a message too:
    nothing is dropped silently.
    """
    buf = b"\n\n"
    body_start = 2  # where the current message's text starts in buf
    index = 0
    stamp: datetime | None = None
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
            if text.strip():
                index += 1
                yield _message(text, name, index, stamp)
            stamp = _from_line_date(buf[pos + 1 : eol])
            body_start = search_from = eol + 1
        if body_start > 2:  # drop what was yielded, keeping two bytes for the blank-line check
            cut = body_start - 2
            buf, body_start, search_from = buf[cut:], 2, search_from - cut
    tail = buf[body_start:]
    if tail.strip():
        yield _message(tail.rstrip(b"\r\n") + b"\n", name, index + 1, stamp)


def _message(data: bytes, name: str, index: int, stamp: datetime | None) -> RawMail:
    if b">From " in data:
        data = _ESCAPED.sub(rb"\1", data)
    return RawMail(data=data, source=f"mbox:{name} #{index}", size=len(data), internal_date=stamp)


def _read_mmdf(handle: BinaryIO, name: str, progress: Progress | None) -> Iterator[RawMail]:
    lines: list[bytes] = []
    index = 0
    for line in handle:
        if progress:
            progress(len(line))
        if line.rstrip(b"\r\n") == _MMDF_MARK:
            if any(x.strip() for x in lines):
                index += 1
                yield _raw(lines, f"mmdf:{name} #{index}", None)
            lines = []
            continue
        lines.append(line)
    if any(x.strip() for x in lines):
        yield _raw(lines, f"mmdf:{name} #{index + 1}", None)


def _raw(lines: list[bytes], source: str, stamp: datetime | None) -> RawMail:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the blank line before the next separator belongs to the mbox
    data = b"".join(lines)
    return RawMail(data=data, source=source, size=len(data), internal_date=stamp)


def maildir_files(root: str | Path) -> list[Path]:
    """Message files under a Maildir (or Maildir++) tree: cur/ and new/, never tmp/.

    A folder with no cur/ or new/ anywhere is read as a plain folder of message files.
    """
    base = Path(root)
    found: list[Path] = []
    plain: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "tmp")
        here = Path(dirpath)
        files = sorted(here / f for f in filenames if not f.startswith("."))
        if here.name in ("cur", "new"):
            found.extend(files)
        else:
            plain.extend(files)
    return found if found else plain


def read_maildir(root: str | Path, progress: Progress | None = None) -> Iterator[RawMail]:
    """Yield each message of a Maildir tree, in file-name order (delivery order for Maildir)."""
    for path in maildir_files(root):
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield RawMail(data=b"", source=f"maildir:{path} (unreadable: {exc.strerror})")
            continue
        if progress:
            progress(len(data))
        yield RawMail(data=data, source=f"maildir:{path}", size=len(data))
