"""A fast, forgiving reader of a message's header block: only what threading and classifying need.

The stdlib parser reads (and decodes) the whole message even with headersonly=True; most list mail
only needs its headers, so this reads the header block alone and leaves the body untouched.
"""

from __future__ import annotations

import re

_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII except ':'
_FIELD_START = re.compile(r"\n(?![ \t])")  # a line break not followed by folding white space


# A header value longer than this is cut: no real header is, and a megabyte-long Subject or From
# would cost every later step time. References keep their start (the root) and their end (the
# parent), which is what threading reads.
MAX_VALUE_CHARS = 16_384
_MAX_ID_LIST_CHARS = 65_536
_ID_LISTS = frozenset({"references", "in-reply-to"})
MAX_FIELDS = 2_000  # real mail has a few dozen; the rest of a hostile block is not read


def _capped(name: str, value: str) -> str:
    if len(value) <= MAX_VALUE_CHARS:
        return value
    if name.lower() in _ID_LISTS:
        return value if len(value) <= _MAX_ID_LIST_CHARS else (
            value[:1024] + " " + value[-(_MAX_ID_LIST_CHARS - 1024):])
    return value[:MAX_VALUE_CHARS]


def _text(block: bytes) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("latin-1")  # 8-bit headers of unknown charset: keep every byte


class HeaderMap:
    """Header fields in order; names match case-insensitively, like email.message.Message."""

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        index: dict[str, list[str]] = {}
        for name, value in fields:
            index.setdefault(name.lower(), []).append(value)
        self._index = index

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str] | None:
        return self._index.get(name.lower())

    def keys(self) -> list[str]:
        return [name for name, _ in self._fields]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def get_content_type(self) -> str:
        """The MIME type (lower-case, without parameters); text/plain when absent or broken."""
        value = self.get("Content-Type") or ""
        ctype = value.split(";", 1)[0].strip().lower()
        return ctype if ctype.count("/") == 1 and " " not in ctype else "text/plain"


def split_header_block(raw: bytes) -> tuple[bytes, bytes]:
    """(header block, body) at the first blank line; a message without one is all headers."""
    lf = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n", 0, lf if lf >= 0 else len(raw))
    if crlf >= 0:
        return raw[:crlf], raw[crlf + 4 :]
    if lf >= 0:
        return raw[:lf], raw[lf + 2 :]
    return raw, b""


def parse_header_block(block: bytes) -> HeaderMap:
    """Split the block into fields (a line not starting with white space starts one), unfold
    continuation lines; text that is not a field is skipped (a defect, not a failure)."""
    fields: list[tuple[str, str]] = []
    text = _text(block).replace("\r\n", "\n")
    for chunk in _FIELD_START.split(text):  # not splitlines(): U+0085 etc. are not line ends
        name, colon, value = chunk.partition(":")
        name = name.rstrip(" \t")
        if colon and _FIELD_NAME.fullmatch(name):
            # unfolding is removing the line breaks (RFC 5322 2.2.3); the white space stays
            fields.append((name, _capped(name, value.replace("\n", "").strip())))
            if len(fields) >= MAX_FIELDS:
                break
    return HeaderMap(fields)
