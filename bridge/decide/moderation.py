"""Moderation of replies from X: pure rules that decide approved / held / rejected with a reason.

The trail of decisions lives in bridge.store.replies and the admin's `moderate` command in
bridge.cli.moderate. Nothing is ever deleted: a rejected reply stays and can still be approved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from bridge.decide.handles import remove_mentions, strip_leading_mentions
from bridge.durations import format_duration

MODES = ("filtered", "open", "hold")
APPROVED, HELD, REJECTED = "approved", "held", "rejected"
STOP_REASON = "asked to stop"
ADMIN = "admin"
AUTOMATIC = "moderation"
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_STOP = re.compile(r"[\W_]*stop[\W_]*", re.IGNORECASE)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ModerationSettings:
    mode: str = "filtered"  # filtered | open | hold
    blocklist: frozenset[str] = frozenset()  # X handles, lower-case, without @
    allowlist: frozenset[str] = frozenset()
    hold_links: bool = True
    min_account_age: timedelta = timedelta(days=30)
    per_author_daily: int = 3  # 0 = no cap
    per_thread_daily: int = 10  # 0 = no cap
    min_chars: int = 15


@dataclass(frozen=True, slots=True)
class ReplyCandidate:
    """What moderation may look at: one reply to one of our posts."""

    reply_id: str
    post_id: str  # our post, i.e. the conversation
    author_id: str
    author_username: str
    author_created_at: datetime | None
    text: str
    urls: tuple[str, ...] = ()  # expanded URLs of the reply's links


@dataclass(frozen=True, slots=True)
class RecentCounts:
    """Replies approved (or already relayed) in the 24 hours before the decision."""

    author: int = 0  # by the same author
    thread: int = 0  # to the same post


@dataclass(frozen=True, slots=True)
class Verdict:
    """Moderation's answer for one reply (the matcher's Verdict is about a whole thread)."""

    status: str  # approved | held | rejected
    reason: str


Rule = Callable[[ReplyCandidate, RecentCounts, ModerationSettings, datetime], Verdict | None]


# -- pure rules ------------------------------------------------------------------------------
def moderate(reply: ReplyCandidate, counts: RecentCounts, settings: ModerationSettings,
             now: datetime) -> Verdict:
    """The first rule that decides wins; each mode is a list of rules (see MODE_RULES)."""
    for rule in MODE_RULES[settings.mode]:
        decision = rule(reply, counts, settings, now)
        if decision is not None:
            return decision
    return Verdict(APPROVED, "passed every filter")


def is_stop(text: str) -> bool:
    """The reply says only "stop" (after the @mentions X puts in front), in any case."""
    return _STOP.fullmatch(strip_leading_mentions(text)) is not None


def content_chars(text: str) -> int:
    """Letters and digits left once @mentions and links are removed; wide (CJK) characters
    count twice, as X weighs them, so a short Chinese answer is not taken for a "+1"."""
    bare = _URL.sub(" ", remove_mentions(text))
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in bare if c.isalnum())


def link_hosts(reply: ReplyCandidate) -> list[str]:
    urls = list(reply.urls) or _URL.findall(reply.text)
    return sorted({urlsplit(u).hostname or u for u in urls})


def rule_stop(reply: ReplyCandidate, _c: RecentCounts, _s: ModerationSettings,
              _n: datetime) -> Verdict | None:
    return Verdict(HELD, STOP_REASON) if is_stop(reply.text) else None


def rule_blocklist(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
                   _n: datetime) -> Verdict | None:
    if reply.author_username.lower() in s.blocklist:
        return Verdict(REJECTED, f"@{reply.author_username} is on the blocklist")
    return None


def rule_allowlist(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
                   _n: datetime) -> Verdict | None:
    if reply.author_username.lower() in s.allowlist:
        return Verdict(APPROVED, f"@{reply.author_username} is on the allowlist")
    return None


def rule_links(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
               _n: datetime) -> Verdict | None:
    hosts = link_hosts(reply)
    if s.hold_links and hosts:
        return Verdict(HELD, f"contains a link ({', '.join(hosts)})")
    return None


def rule_min_chars(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
                   _n: datetime) -> Verdict | None:
    found = content_chars(reply.text)
    if found < s.min_chars:
        return Verdict(REJECTED, f"too short: {found} of {s.min_chars} characters of words")
    return None


def rule_account_age(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
                     now: datetime) -> Verdict | None:
    if reply.author_created_at is None:
        return Verdict(HELD, "account age unknown (the network did not say)")
    age = now - reply.author_created_at
    if age < s.min_account_age:
        return Verdict(HELD, f"account is {format_duration(age)} old "
                              f"(minimum {format_duration(s.min_account_age)})")
    return None


def rule_caps(reply: ReplyCandidate, c: RecentCounts, s: ModerationSettings,
              _n: datetime) -> Verdict | None:
    if s.per_author_daily and c.author >= s.per_author_daily:
        return Verdict(HELD, f"@{reply.author_username} reached the cap of "
                              f"{s.per_author_daily} replies a day")
    if s.per_thread_daily and c.thread >= s.per_thread_daily:
        return Verdict(HELD, f"this thread reached the cap of {s.per_thread_daily} replies a day")
    return None


def rule_hold_all(_r: ReplyCandidate, _c: RecentCounts, _s: ModerationSettings,
                  _n: datetime) -> Verdict | None:
    return Verdict(HELD, "hold mode: every reply waits for the admin")


def rule_open(_r: ReplyCandidate, _c: RecentCounts, _s: ModerationSettings,
              _n: datetime) -> Verdict | None:
    return Verdict(APPROVED, "open mode")


# Order matters: "stop" and the blocklist apply in every mode; the allowlist skips the filters;
# a link is held before the length check, so a link-only answer waits for the admin instead of
# being rejected as too short.
MODE_RULES: dict[str, tuple[Rule, ...]] = {
    "filtered": (rule_stop, rule_blocklist, rule_allowlist, rule_links, rule_min_chars,
                 rule_account_age, rule_caps),
    "open": (rule_stop, rule_blocklist, rule_open),
    "hold": (rule_stop, rule_blocklist, rule_hold_all),
}
