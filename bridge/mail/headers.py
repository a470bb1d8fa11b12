"""Pure helpers for reading header values: decoding, Message-IDs, addresses, dates."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from email.errors import MessageError
from email.header import decode_header, make_header
from email.utils import parseaddr, parsedate_to_datetime

_WS = re.compile(r"\s+")
_BRACKETED = re.compile(r"<([^<>\s]+)>")
_BARE_ID = re.compile(r"""[^\s<>"(),;]+@[^\s<>"(),;]+""")
_ADDR_SPEC = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+$")
# 'Name <a@b.c>', '"Name" <a@b.c>' or a bare 'a@b.c' -- anything else goes to parseaddr
_SIMPLE_ADDRESS = re.compile(
    r'\s*(?:"?([^"<>()\\,;:@]*?)"?\s*<([^<>()\s,;:"@]+@[^<>()\s,;:"@]+)>|([^<>()\s,;:"@]+@[^<>()\s,;:"@]+))\s*'
)
_VIA = re.compile(r"^(?P<name>.*?)\s+via\s+\S.*$", re.IGNORECASE)
_EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)
# Later than any real mail, early enough that date arithmetic (subject windows) never overflows.
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# local@domain: neither side empty, no white space or angle brackets.
_VALID_ID = re.compile(r"[^<>\s@]+(?:@[^<>\s@]+)*@[^<>\s@]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_text(text: str) -> str:
    """Text any UTF-8 sink accepts: lone surrogates (from utf-7 words, surrogateescape'd bytes)
    become U+FFFD, NUL is dropped."""
    if _SURROGATE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        text = _SURROGATE.sub("\ufffd", text)
    return text.replace("\x00", "")


def decode_value(value: object) -> str:
    """A header value as one line of text: RFC 2047 words decoded, whitespace folded."""
    if value is None:
        return ""
    text = str(value)
    if "=?" not in text:  # no encoded-words: the common case, no decoding needed
        return _WS.sub(" ", text.replace("\x00", "")).strip()
    # undecodable encoded-words stay as written; never fail a message over a header
    with contextlib.suppress(LookupError, UnicodeError, ValueError, AssertionError, TypeError,
                             MessageError):
        text = str(make_header(decode_header(text)))
    return _WS.sub(" ", scrub_text(text)).strip()


def clean_message_id(value: str | None) -> str | None:
    """The id inside a Message-ID header, without angle brackets; None when there is none."""
    if not value:
        return None
    match = _BRACKETED.search(value)
    if match:
        return match.group(1)
    token = value.strip().split()
    if len(token) == 1 and token[0] and "<" not in token[0] and ">" not in token[0]:
        return token[0]
    return None


def is_valid_id(value: str) -> bool:
    """Is this (without brackets) a usable message id: "local@domain", both sides non-empty?"""
    return _VALID_ID.fullmatch(value) is not None


def message_id(value: str | None) -> str | None:
    """The id of a Message-ID header, or None when it is absent or invalid ("noat", "<@>",
    "<a@b>junk"): an invalid id is no identity, the caller falls back to a content hash."""
    text = (value or "").strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text if is_valid_id(text) else None


def reference_ids(value: str | None) -> list[str]:
    """Every valid bracketed id in a References header, in order."""
    if not value:
        return []
    return [i for i in _BRACKETED.findall(value) if is_valid_id(i)]


def in_reply_to_ids(value: str | None) -> tuple[list[str], bool]:
    """Ids in an In-Reply-To header and whether the header was clean (exactly one <id>)."""
    if not value:
        return [], False
    stripped = value.strip()
    bracketed = [i for i in _BRACKETED.findall(stripped) if is_valid_id(i)]
    if len(bracketed) == 1 and stripped == f"<{bracketed[0]}>":
        return bracketed, True
    if bracketed:
        return bracketed, False
    # Web front-ends send a bare id without angle brackets.
    bare = (m.group(0).strip(".") for m in _BARE_ID.finditer(stripped))
    return [i for i in bare if is_valid_id(i)], False


def parse_address(value: str) -> tuple[str, str]:
    """(display name, lower-cased addr-spec); the address is "" unless it is a plain addr-spec.

    Identities are decided on the addr-spec alone (CVE-2023-27043: parseaddr can be fooled by
    crafted values, so anything that is not a clean addr-spec is not trusted as an address).
    """
    simple = _SIMPLE_ADDRESS.fullmatch(value)
    if simple:  # the usual forms: no comments, groups or quoting tricks to parse
        name, addr = (simple.group(1) or "").strip(), (simple.group(2) or simple.group(3)).lower()
    else:
        name, addr = parseaddr(value)
        if not _plainly_written(addr, value):
            addr = ""  # parseaddr guessed (CVE-2023-27043 shapes): no identity from a guess
        addr = addr.strip().lower()
    if not _ADDR_SPEC.match(addr):
        addr = ""
    return decode_value(name).strip(" \"'"), addr


def plain_address(value: str) -> str:
    """The lower-cased addr-spec when `value` is nothing but a plain address, else ""."""
    address = parse_address(value)[1]
    return address if address and address == value.strip().lower() else ""


def _plainly_written(addr: str, value: str) -> bool:
    """Does `value` spell `addr` out as "<addr>", or as "addr (comment)"?"""
    text = value.strip().lower()
    addr = addr.strip().lower()
    return bool(addr) and (f"<{addr}>" in text or text == addr
                           or re.fullmatch(re.escape(addr) + r"\s*\(.*\)", text) is not None)


def via_name(display_name: str) -> str | None:
    """The person's name from a list rewrite such as "Jane Doe via SLA Solo Librarians"."""
    match = _VIA.match(display_name)
    return match.group("name").strip(" \"'") if match else None


def parse_date(value: str | None) -> datetime | None:
    """A Date header as aware UTC, or None when missing, unparseable or absurd."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return parsed if plausible_date(parsed) else None


def plausible_date(value: datetime) -> bool:
    """Within the years mail can have been written (1980 to 2200): anything else is a lie that
    would only overflow date arithmetic."""
    return _EARLIEST <= value < _LATEST


def received_date(received: list[str]) -> datetime | None:
    """The newest timestamp of the Received headers (the top one is our own server's)."""
    for header in received:
        _, _, stamp = header.rpartition(";")
        parsed = parse_date(stamp.strip())
        if parsed is not None:
            return parsed
    return None


def choose_date(
    header: datetime | None, received: datetime | None, fallback: datetime | None
) -> tuple[datetime, bool]:
    """The message date and whether it is a fallback (Date missing, bad or far in the future)."""
    if header is not None and (received is None or header <= received + timedelta(days=1)):
        return header, False
    if received is not None:
        return received, True
    if header is not None:
        return header, False
    if fallback is not None:
        fallback = fallback if fallback.tzinfo else fallback.replace(tzinfo=UTC)
        if plausible_date(fallback):
            return fallback.astimezone(UTC), True
    return _EARLIEST, True
