"""What the list's own history says about a new root: the languages its members answer in, whether
the sender was ever in a conversation on the list, and whether the sender posted the same (or much
the same) text as a new thread before.

Built once from the threads at hand (pure, from values); `context(root)` only looks at messages
dated before the root, so a replay over an archive never sees the future.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.decide import signals as sig
from bridge.decide.rules import AUTOMATIC_FLAGS
from bridge.model import Author, Mail, ThreadView

WINDOW = timedelta(days=30)  # how far back the daemon and preview read the list's history
MIN_MESSAGES = 30  # below this the history is too short to call anyone a first-time sender
MIN_REPLIES = 10  # replies in a known language needed before a language counts as foreign
LANGUAGE_SHARE = 0.1  # a language used in at least this share of replies is the list's own
SAME_PITCH = 0.5  # word-set similarity from which two new threads make the same pitch
PITCH_WORDS = 8  # a body of fewer different words says too little to call it a pitch


@dataclass(frozen=True, slots=True)
class Context:
    """Facts about one root from the messages before it (all empty when nothing is known)."""

    list_languages: frozenset[str] = frozenset()
    first_time_sender: bool = False  # never in a conversation before: no reply sent or received
    same_pitch: int = 0  # earlier new threads by this sender with much the same words
    repost_of: str | None = None  # an earlier new thread by this sender with the very same text
    earlier_roots: int = 0  # new threads this sender started before
    silent_sender: bool = False  # never in a conversation here (however short the history)


NO_CONTEXT = Context()


@dataclass(frozen=True, slots=True)
class _Root:
    date: datetime
    message_id: str
    fingerprint: str
    words: frozenset[str]


def sender_key(author: Author) -> str:
    return author.address or author.name.strip().casefold()


def fingerprint(mail: Mail) -> str:
    """The text of a root, whitespace and case folded: equal for a word-for-word repost."""
    text = f"{mail.subject_norm}\n{' '.join((mail.body or '').split()).casefold()}"
    return hashlib.sha256(text.encode()).hexdigest()


class History:
    """An index of the list's messages, to answer `context(root)` quickly."""

    def __init__(self, threads: Iterable[ThreadView]) -> None:
        self._dates: list[datetime] = []
        self._known_since: dict[str, list[datetime]] = defaultdict(list)
        self._root_dates: dict[str, list[datetime]] = defaultdict(list)
        self._roots: dict[str, list[_Root]] = defaultdict(list)
        self._reply_langs: dict[str, list[datetime]] = defaultdict(list)
        for thread in threads:
            self._add(thread)
        for dates in (self._dates, *self._known_since.values(), *self._reply_langs.values(),
                      *self._root_dates.values()):
            dates.sort()

    def _add(self, thread: ThreadView) -> None:
        root = thread.root
        self._root_dates[sender_key(root.author)].append(root.date)
        for mail in thread.messages:
            self._dates.append(mail.date)
            if mail.message_id == root.message_id:  # by identity, not object: views copy mails
                continue
            # a member in a conversation: the replier from now on, the asker from the first reply
            self._known_since[sender_key(mail.author)].append(mail.date)
            self._known_since[sender_key(root.author)].append(mail.date)
            machine = any(flag in mail.flags for flag, _ in AUTOMATIC_FLAGS)
            if mail.body and not machine:
                lang = sig.language(mail.body)
                if lang is not None:
                    self._reply_langs[lang].append(mail.date)
        if root.body and root.body.strip():
            self._roots[sender_key(root.author)].append(
                _Root(root.date, root.message_id, fingerprint(root), sig.words(root.body)))

    def context(self, root: Mail) -> Context:
        before = bisect_left(self._dates, root.date)
        key = sender_key(root.author)
        seen = bisect_left(self._known_since.get(key, []), root.date)
        earlier = [r for r in self._roots.get(key, []) if r.date < root.date
                   and r.message_id != root.message_id]
        text = fingerprint(root)
        repost = next((r.message_id for r in earlier if r.fingerprint == text), None)
        own = sig.words(root.body or "")
        pitch = sum(1 for r in earlier if len(own) >= PITCH_WORDS and len(r.words) >= PITCH_WORDS
                    and sig.similarity(own, r.words) >= SAME_PITCH)
        return Context(self._languages(root.date), before >= MIN_MESSAGES and seen == 0,
                       pitch, repost if root.body and root.body.strip() else None,
                       bisect_left(self._root_dates.get(key, []), root.date), seen == 0)

    def _languages(self, when: datetime) -> frozenset[str]:
        counts = {lang: bisect_left(dates, when) for lang, dates in self._reply_langs.items()}
        total = sum(counts.values())
        if total < MIN_REPLIES:
            return frozenset()
        return frozenset(lang for lang, n in counts.items() if n >= LANGUAGE_SHARE * total)
