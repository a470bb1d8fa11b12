"""Threading rules as pure functions: which ids a message links to, and which message is the root.

A thread is a connected component of the relation "message names id" (its own Message-ID, its
References and In-Reply-To), plus a subject fallback for replies that carry no reference headers
at all. Components do not depend on the order in which messages arrive; the store keeps them
incrementally (see store_mail.MailStore.add_mail).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from bridge.model import Mail

DEFAULT_SUBJECT_WINDOW = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class SubjectLink:
    """Link to messages with this normalised subject dated within [start, end]."""

    subject_norm: str
    start: datetime
    end: datetime
    only_unreferenced_replies: bool  # True: only messages that are no-reference replies


def linked_ids(mail: Mail) -> tuple[str, ...]:
    """Every id this message joins to its thread: itself first, then what it references."""
    seen = {mail.message_id}
    out = [mail.message_id]
    for ref in mail.references:
        if ref not in seen:
            seen.add(ref)
            out.append(ref)
    return tuple(out)


# A message joining more threads than this is not repairing a broken chain: it is distrusted.
MAX_THREADS_JOINED = 4


def trust_links(threads: set[int], rooted: set[int]) -> bool:
    """May one message merge these existing threads? `rooted` are those among them that hold a
    conversation's start (a message with no parent and no reply subject).

    Merging repairs threads split by a missing message: orphan replies join their conversation.
    Two conversations that each have their own start are unrelated; a message whose References
    jump between them (or join very many threads) would swallow questions, so it is not trusted.
    """
    return len(threads) <= MAX_THREADS_JOINED and len(rooted) <= 1


def needs_subject_fallback(mail: Mail) -> bool:
    """Only a reply ("Re: ...") with no reference headers at all may be threaded by subject."""
    return mail.is_reply_subject and not mail.references and bool(mail.subject_norm)


def subject_links(mail: Mail, window: timedelta) -> tuple[SubjectLink, ...]:
    """The symmetric subject relation, seen from `mail`.

    A no-reference reply N links to every message with the same subject dated in
    [N.date - window, N.date]; so a message M also links to the no-reference replies dated in
    [M.date, M.date + window]. Both directions are asked, which keeps threading order-independent.
    """
    if not mail.subject_norm:
        return ()
    links = [
        SubjectLink(mail.subject_norm, mail.date, mail.date + window, only_unreferenced_replies=True)
    ]
    if needs_subject_fallback(mail):
        links.append(
            SubjectLink(
                mail.subject_norm, mail.date - window, mail.date, only_unreferenced_replies=False
            )
        )
    return tuple(links)


class Rootable(Protocol):
    """What choosing a root needs to know of a message (a Mail has it all)."""

    @property
    def message_id(self) -> str: ...
    @property
    def date(self) -> datetime: ...
    @property
    def is_reply_subject(self) -> bool: ...
    @property
    def references(self) -> tuple[str, ...] | bool: ...


@dataclass(frozen=True, slots=True)
class RootCandidate:
    """A message as the store's thread summary sees it: no body, no headers beyond these."""

    message_id: str
    date: datetime
    is_reply_subject: bool
    references: bool  # whether it names any id at all


R = TypeVar("R", bound=Rootable)


def pick_root(mails: Iterable[R], parents: dict[str, str | None]) -> R:
    """The thread's root: the earliest message whose parent is not in the thread.

    Messages threaded only by subject (no parent, but a reply subject) rank after real roots;
    in a reference loop (no message lacks a parent) the earliest message wins. Ties: Message-ID.
    """
    members = list(mails)
    if not members:
        raise ValueError("a thread has at least one message")
    ids = {m.message_id for m in members}

    def rank(m: R) -> tuple[int, datetime, str]:
        parent = parents.get(m.message_id)
        if parent is not None and parent in ids:
            return (2, m.date, m.message_id)
        subject_only = parent is None and m.is_reply_subject and not m.references
        return (1 if subject_only else 0, m.date, m.message_id)

    return min(members, key=rank)
