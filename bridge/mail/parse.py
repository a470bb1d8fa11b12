"""Raw message bytes to `Mail` values: identity, threading headers, author, date, flags, clean body.

Only the header block is read (rawheaders) for every message: that is all threading and
classification need. The body is parsed (mail-parser) only when the caller asks for it, because
only messages that can still become a post need their words.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

import structlog

from bridge.mail import headers as h
from bridge.mail.classify import classify_body, classify_headers
from bridge.mail.clean import clean_body, html_to_text, normalise_subject
from bridge.mail.echo import EchoSettings, is_our_relay
from bridge.mail.headerblock import HeaderMap, parse_header_block, split_header_block
from bridge.model import Author, Flag, Mail

_DIGEST_PARSER = BytesParser(policy=compat32)  # only digests are parsed whole


class _IntoStructlog(logging.Handler):
    """mail-parser logs through the stdlib: without this its plain-text lines reach stderr (the
    journal) through logging's last-resort handler. They join ours as debug events instead."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            structlog.get_logger().debug("mailparser_logged", level_name=record.levelname,
                                         message=record.getMessage())
        except Exception:  # a logging failure must never fail a message
            self.handleError(record)


_LIBRARY_LOG = logging.getLogger("mailparser")
_LIBRARY_LOG.addHandler(_IntoStructlog())
_LIBRARY_LOG.propagate = False
HASH_ID_DOMAIN = "hash.listserv-bridge.invalid"
# Of any message only its first bytes are read: headers, the question's words and a digest's first
# messages fit; attachments and pasted logs beyond are never held in memory (readers cut there).
MESSAGE_HEAD_BYTES = 2 << 20
BODY_TEXT_CHARS = 128 * 1024  # of a body's text only this much is cleaned: a question is shorter
BODY_TEXT_LINES = 2_000  # ... and only this many lines (cleaning costs per line)
BODY_PARSE_BYTES = 512 * 1024  # the MIME parser reads this much of a body: room for encodings


class MailParseError(ValueError):
    """The bytes are not a usable email message; the reason says why."""


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What the caller knows that the message does not say."""

    want_body: bool = True
    body_since: datetime | None = None  # with want_body: only mail dated at/after this (None: all)
    fallback_date: datetime | None = None  # IMAP INTERNALDATE, mbox From_ line, or now
    list_addresses: frozenset[str] = frozenset()  # the list's own address(es), lower-case
    echo: EchoSettings | None = None  # how our own relay emails look, to flag them Flag.OURS


def parse_mail(raw: bytes, options: ParseOptions = ParseOptions()) -> list[Mail]:
    """Parse one message (a MIME digest gives one Mail per digested message)."""
    raw = raw.lstrip(b" \t\r\n")
    if not raw:
        raise MailParseError("empty message")
    block, body = split_header_block(raw)
    headers = parse_header_block(block)
    if not headers.keys():
        raise MailParseError("no header fields")
    if headers.get_content_type() == "multipart/digest":
        return _split_digest(raw, options)
    return [_build_mail(headers, raw, body, options)]


def _split_digest(raw: bytes, options: ParseOptions) -> list[Mail]:
    full = _DIGEST_PARSER.parsebytes(raw)
    mails = []
    for part in full.walk():
        if part.get_content_type() != "message/rfc822":
            continue
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message):
            inner_raw = inner.as_bytes()
            block, body = split_header_block(inner_raw)
            mail = _build_mail(parse_header_block(block), inner_raw, body, options)
            mails.append(_with_flag(mail, Flag.FROM_DIGEST))
    if not mails:
        raise MailParseError("multipart/digest without any message/rfc822 part")
    return mails


def _with_flag(mail: Mail, flag: Flag) -> Mail:
    return replace(mail, flags=mail.flags | {flag})


def _build_mail(msg: HeaderMap, raw: bytes, body: bytes, options: ParseOptions) -> Mail:
    subject = h.decode_value(msg.get("Subject"))
    subject_norm, is_reply = normalise_subject(subject)
    message_id = h.message_id(h.decode_value(msg.get("Message-ID")))
    has_id = message_id is not None
    if message_id is None:
        message_id = _content_hash_id(msg, body)
    parent, refs = _parent_and_refs(msg, message_id)
    list_addresses = options.list_addresses | _list_post_address(msg)
    date, date_fallback = h.choose_date(
        h.parse_date(msg.get("Date")),
        h.received_date([str(v) for v in msg.get_all("Received") or []]),
        options.fallback_date,
    )
    list_stamped = any(msg.get(k) for k in ("List-Id", "List-Post", "Mailing-List"))
    content_type = msg.get("Content-Type") or "text/plain"
    flags = set(classify_headers(msg, subject, content_type, list_stamped=list_stamped))
    if date_fallback:
        flags.add(Flag.DATE_MISSING)
    if options.echo is not None and is_our_relay(msg, (), options.echo):
        flags.add(Flag.OURS)
    text, body_error = _body(msg, body, options, date)
    if text is not None:
        flags |= classify_body(subject, text)
    return Mail(
        message_id=message_id,
        subject=subject,
        subject_norm=subject_norm,
        is_reply_subject=is_reply,
        author=_author(msg, list_addresses),
        date=date,
        in_reply_to=parent,
        references=refs,
        list_id=_list_id(msg),
        archived_at=_archived_at(msg),
        message_id_hash=h.decode_value(msg.get("X-Message-ID-Hash") or msg.get("Message-ID-Hash"))
        or None,
        flags=frozenset(flags),
        body=text,
        body_error=body_error,
        size=len(raw),
        has_message_id=has_id,
        list_archive=_list_archive(msg),
    )


def _wants_body(options: ParseOptions, date: datetime) -> bool:
    return options.want_body and (options.body_since is None or date >= options.body_since)


def _body(msg: HeaderMap, body: bytes, options: ParseOptions, date: datetime
          ) -> tuple[str | None, str | None]:
    """(clean body or None when not wanted, why it could not be read)."""
    if not _wants_body(options, date):
        return None, None
    try:
        return body_text(msg, body), None
    except BodyError as exc:
        return "", str(exc)


def _parent_and_refs(msg: HeaderMap, own_id: str) -> tuple[str | None, tuple[str, ...]]:
    """Parent = clean In-Reply-To, else last References id, else a messy In-Reply-To id."""
    refs = _without_self_refs(h.reference_ids(h.decode_value(msg.get("References"))), own_id)
    irt, irt_clean = h.in_reply_to_ids(h.decode_value(msg.get("In-Reply-To")))
    irt = [i for i in irt if i != own_id]
    if irt_clean and irt:
        parent: str | None = irt[0]
    elif refs:
        parent = refs[-1]
    else:
        parent = irt[0] if irt else None
    ordered = list(dict.fromkeys([*refs, *irt]))
    return parent, tuple(ordered)


def _without_self_refs(refs: list[str], own_id: str) -> list[str]:
    """References without the message's own id, nor Yahoo Mail's shadow of a message id ("ID.ref@"
    beside "ID@": the first message of a conversation names its own id that way, and every reply
    carries it along), which names no message and made new questions look like replies."""
    named = {own_id, *refs}
    def shadow(ref: str) -> bool:
        local, at, domain = ref.rpartition("@")
        return bool(at) and local.endswith(".ref") and f"{local[:-4]}@{domain}" in named
    return [r for r in refs if r != own_id and not shadow(r)]


def _content_hash_id(msg: HeaderMap, body: bytes) -> str:
    """A stable identity for a message without Message-ID: its author, date, subject and body."""
    digest = hashlib.sha256()
    for name in ("From", "Date", "Subject"):
        digest.update(h.decode_value(msg.get(name)).encode("utf-8", "replace") + b"\0")
    digest.update(body.replace(b"\r\n", b"\n"))
    return f"{digest.hexdigest()[:32]}@{HASH_ID_DOMAIN}"


def _list_post_address(msg: HeaderMap) -> frozenset[str]:
    value = h.decode_value(msg.get("List-Post"))
    if "mailto:" not in value.lower():
        return frozenset()
    start = value.lower().index("mailto:") + len("mailto:")
    addr = h.plain_address(value[start:].split(">")[0].split("?")[0])
    return frozenset({addr}) if addr else frozenset()


def _author(msg: HeaderMap, list_addresses: frozenset[str]) -> Author:
    """The person who wrote it, also when the list rewrote From to "Name via List <list@...>"."""
    name, addr = h.parse_address(h.decode_value(msg.get("From")))
    via = h.via_name(name)
    if via is None and addr not in list_addresses:
        return Author(name, addr)
    for header in ("X-Original-From", "Reply-To"):
        other_name, other_addr = h.parse_address(h.decode_value(msg.get(header)))
        if other_addr and other_addr not in list_addresses:
            return Author(via or other_name or name, other_addr)
    return Author(via or name, "")


def _list_id(msg: HeaderMap) -> str | None:
    value = h.decode_value(msg.get("List-Id"))
    if not value:
        return None
    return h.clean_message_id(value) or value


def _archived_at(msg: HeaderMap) -> str | None:
    value = h.decode_value(msg.get("Archived-At"))
    if not value:
        return None
    url = value.strip()
    if url.startswith("<") and ">" in url:
        url = url[1 : url.index(">")]
    return url if url.startswith(("https://", "http://")) else None


class BodyError(ValueError):
    """The body could not be read (broken MIME); the headers still count."""
def _list_archive(msg: HeaderMap) -> str | None:
    """RFC 2369: `<url>` items, comma separated; the first http(s) one (validated when used)."""
    value = h.decode_value(msg.get("List-Archive"))
    for found in re.finditer(r"<([^<>]*)>", value or ""):
        url = found.group(1).strip()
        if url.startswith(("https://", "http://")):
            return url
    return None


def extract_body(raw: bytes) -> str:
    """The author's own words of a whole message (see body_text); raises BodyError."""
    block, body = split_header_block(raw[:MESSAGE_HEAD_BYTES])
    return body_text(parse_header_block(block), body)


_MIME_HEADERS = ("MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition")


def body_text(msg: HeaderMap, body: bytes) -> str:
    """The author's own words: text/plain (or HTML converted), quotes/signature/footer removed.

    mail-parser sees only the MIME headers (it would decode every other header again, at great
    cost for a message with thousands of them) and the first BODY_PARSE_BYTES of the body; only
    the head of the text is cleaned (a question is never longer). Raises BodyError when the
    MIME structure cannot be read.
    """
    import mailparser  # loaded by the first body parsed: commands that read none start faster

    mime = "".join(f"{name}: {value}\n" for name in _MIME_HEADERS
                   for value in msg.get_all(name) or [])
    try:
        parsed = mailparser.parse_from_bytes(mime.encode("utf-8", "replace") + b"\n"
                                             + body[:BODY_PARSE_BYTES])
        plain = [t for t in parsed.text_plain if t and t.strip()]
        html = [t for t in parsed.text_html if t and t.strip()]
    except Exception as exc:  # mail-parser raises many kinds on broken MIME
        raise BodyError(f"body not readable: {type(exc).__name__}: {exc}") from exc
    if plain:
        text = "\n\n".join(plain)
    elif html:
        text = html_to_text("\n".join(html)[: BODY_TEXT_CHARS * 2])
    else:
        return ""
    return h.scrub_text(clean_body(_head_of_text(text)))


def _head_of_text(text: str) -> str:
    """The first BODY_TEXT_CHARS characters and BODY_TEXT_LINES lines: cleaning costs per line."""
    text = text[:BODY_TEXT_CHARS]
    cut = -1
    for _ in range(BODY_TEXT_LINES):
        cut = text.find("\n", cut + 1)
        if cut < 0:
            return text
    return text[:cut]
