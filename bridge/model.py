"""Plain value types shared by every stage: no I/O, no behaviour beyond small derived properties."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class Secret(Protocol):
    """A secret reference (bridge.config.secrets.SecretRef): read when a command needs it."""

    def resolve(self) -> str: ...


class Flag(enum.StrEnum):
    """Facts about a message that decide whether it may ever be published or count as an answer."""

    AUTOMATED = "automated"  # Auto-Submitted, Precedence bulk/junk/auto_reply, robot senders
    BOUNCE = "bounce"  # DSN (multipart/report; report-type=delivery-status)
    OUT_OF_OFFICE = "out_of_office"  # vacation auto-replies, in several languages
    SPAM = "spam"  # marked by the list's filter (X-Spam-Flag, X-Spam-Status, [SPAM] tag)
    NO_ARCHIVE = "no_archive"  # X-No-Archive: yes / X-Archive: no: "do not publish me"
    FROM_DIGEST = "from_digest"  # split out of a multipart/digest
    OURS = "ours"  # a relay email the bridge itself sent, come back through the list
    DATE_MISSING = "date_missing"  # Date absent or unparseable; a fallback date was used
    # Evidence only (never decisive alone): see bridge.decide.evidence
    AUTH_FAILED = "auth_failed"  # SPF/DKIM/DMARC fail in (ARC-)Authentication-Results
    BULK_SENDER = "bulk_sender"  # the sender's own List-Unsubscribe: mailing software, not a person
    UNDISCLOSED = "undisclosed"  # "undisclosed-recipients:;": sent to a hidden address list


@dataclass(frozen=True, slots=True)
class Author:
    """The person who wrote a message (recovered from list rewrites such as "X via List")."""

    name: str
    address: str  # lower-cased addr-spec, "" when unknown


@dataclass(frozen=True, slots=True)
class Mail:
    """One parsed list message. Identity is `message_id` (no angle brackets), never an IMAP UID."""

    message_id: str
    subject: str  # decoded, whitespace-folded, as written
    subject_norm: str  # list tags and Re:/Fwd: prefixes removed, case-folded; threading key
    is_reply_subject: bool  # the subject carried a Re:/AW:/SV:... prefix
    author: Author
    date: datetime  # timezone-aware UTC
    in_reply_to: str | None  # the chosen parent id (see mail.choose_parent)
    references: tuple[str, ...]  # every id the message names, References order then In-Reply-To
    list_id: str | None = None
    archived_at: str | None = None  # RFC 5064 Archived-At URL (Mailman 3), without <>
    message_id_hash: str | None = None  # Mailman 3 X-Message-ID-Hash
    flags: frozenset[Flag] = frozenset()
    body: str | None = None  # clean text: no quotes, signature, footer; None = not parsed (headers only)
    size: int = 0  # raw size in bytes
    has_message_id: bool = True  # False: message_id is a content hash
    body_error: str | None = None  # why the body could not be read (body is then ""); not stored
    list_archive: str | None = None  # RFC 2369 List-Archive URL (the list's archive page), no <>

@dataclass(frozen=True, slots=True)
class Problem:
    """A message that could not be ingested, with the reason; it is recorded and skipped."""

    source: str  # where it came from: "imap:INBOX uid 42", "mbox:/path #17"
    reason: str
    message_id: str | None = None
    size: int = 0


@dataclass(frozen=True, slots=True)
class ThreadView:
    """A thread as the store knows it: its root and every message in date order."""

    thread_id: int
    root: Mail
    messages: tuple[Mail, ...] = field(default_factory=tuple)
    state: str = "open"

    @property
    def replies(self) -> tuple[Mail, ...]:
        return tuple(m for m in self.messages if m.message_id != self.root.message_id)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the IMAP reader stopped in one folder: meaningful only as a (uidvalidity, uid) pair."""

    folder: str
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True, slots=True)
class RawMail:
    """Bytes of one message and where they came from (uid set for IMAP sources)."""

    data: bytes
    source: str
    uid: int | None = None
    size: int = 0
    internal_date: datetime | None = None  # IMAP INTERNALDATE or the mbox From_ line: a fallback
    problem: str | None = None  # why the source could not deliver the bytes (data is then b"")


@dataclass(frozen=True, slots=True)
class XPost:
    """A post read from X (a reply to us, or one of our own), as the X adapter returns it."""

    id: str
    text: str  # as X returns it: URLs are t.co links (see expanded_urls)
    author_id: str | None
    author_username: str | None
    author_name: str | None
    author_created_at: datetime | None
    conversation_id: str | None
    in_reply_to_user_id: str | None
    referenced: tuple[tuple[str, str], ...]  # (type, id), e.g. ("replied_to", "123")
    created_at: datetime | None
    expanded_urls: tuple[str, ...]


@dataclass(frozen=True)
class FetchBatch:
    """Up to batch_size messages (and batch_bytes); `cursor` is where the reader stands after it."""

    mails: tuple[RawMail, ...]
    oversized: tuple[Problem, ...]  # every UID of the batch not read: too big, or not answered
    cursor: Cursor


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One question's post for one network: the text, the thread link, the subject (link card).
    `created_at` is when its row was first written: stable across retries and crashes."""

    root_id: str
    network: str
    text: str
    link: str
    title: str = ""
    created_at: datetime | None = None

    @property
    def key(self) -> str:
        """Stable per question and network: an idempotency key or a record key's seed."""
        return hashlib.sha256(f"{self.network}\0{self.root_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Replier:
    """A reply's author as the network shows them."""

    id: str
    handle: str  # "user@instance" (Mastodon), "name.bsky.social" (Bluesky), "user" (X)
    name: str
    created_at: datetime | None = None

    @property
    def display(self) -> str:
        """'Name (@handle)' for the relay email; the handle alone when there is no name."""
        name = " ".join(self.name.split())
        return f"{name} (@{self.handle})" if name and name != self.handle else f"@{self.handle}"


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply to one of our posts, in plain text with links expanded."""

    id: str
    post_id: str  # our post it answers (directly or further down its thread)
    author: Replier
    text: str
    url: str  # the reply on the network, for the relay email
    created_at: datetime
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyBatch:
    """What one read returned; `cursor` covers it (store it with the replies, in one transaction)."""

    replies: tuple[Reply, ...]
    cursor: str | None
    reads: int = 0
