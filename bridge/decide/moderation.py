"""Moderation of replies from X: pure rules that decide approved / held / rejected with a reason,
the trail of decisions in the store, and the admin's `moderate` command (list, approve, reject).

Nothing is ever deleted: a rejected reply stays in the store and the admin can still approve it.
"""

from __future__ import annotations

import json as jsonlib
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit

from bridge.decide.handles import remove_mentions, strip_leading_mentions
from bridge.durations import format_duration
from bridge.store.db import Store, from_epoch, to_epoch

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
class Decision:
    status: str  # approved | held | rejected
    reason: str


Rule = Callable[[ReplyCandidate, RecentCounts, ModerationSettings, datetime], Decision | None]


# -- pure rules ------------------------------------------------------------------------------
def moderate(reply: ReplyCandidate, counts: RecentCounts, settings: ModerationSettings,
             now: datetime) -> Decision:
    """The first rule that decides wins; each mode is a list of rules (see MODE_RULES)."""
    for rule in MODE_RULES[settings.mode]:
        decision = rule(reply, counts, settings, now)
        if decision is not None:
            return decision
    return Decision(APPROVED, "passed every filter")


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
              _n: datetime) -> Decision | None:
    return Decision(HELD, STOP_REASON) if is_stop(reply.text) else None


def rule_blocklist(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
                   _n: datetime) -> Decision | None:
    if reply.author_username.lower() in s.blocklist:
        return Decision(REJECTED, f"@{reply.author_username} is on the blocklist")
    return None


def rule_allowlist(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
                   _n: datetime) -> Decision | None:
    if reply.author_username.lower() in s.allowlist:
        return Decision(APPROVED, f"@{reply.author_username} is on the allowlist")
    return None


def rule_links(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
               _n: datetime) -> Decision | None:
    hosts = link_hosts(reply)
    if s.hold_links and hosts:
        return Decision(HELD, f"contains a link ({', '.join(hosts)})")
    return None


def rule_min_chars(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
                   _n: datetime) -> Decision | None:
    found = content_chars(reply.text)
    if found < s.min_chars:
        return Decision(REJECTED, f"too short: {found} of {s.min_chars} characters of words")
    return None


def rule_account_age(reply: ReplyCandidate, _c: RecentCounts, s: ModerationSettings,
                     now: datetime) -> Decision | None:
    if reply.author_created_at is None:
        return Decision(HELD, "account age unknown (X did not say)")
    age = now - reply.author_created_at
    if age < s.min_account_age:
        return Decision(HELD, f"account is {format_duration(age)} old "
                              f"(minimum {format_duration(s.min_account_age)})")
    return None


def rule_caps(reply: ReplyCandidate, c: RecentCounts, s: ModerationSettings,
              _n: datetime) -> Decision | None:
    if s.per_author_daily and c.author >= s.per_author_daily:
        return Decision(HELD, f"@{reply.author_username} reached the cap of "
                              f"{s.per_author_daily} replies a day")
    if s.per_thread_daily and c.thread >= s.per_thread_daily:
        return Decision(HELD, f"this thread reached the cap of {s.per_thread_daily} replies a day")
    return None


def rule_hold_all(_r: ReplyCandidate, _c: RecentCounts, _s: ModerationSettings,
                  _n: datetime) -> Decision | None:
    return Decision(HELD, "hold mode: every reply waits for the admin")


def rule_open(_r: ReplyCandidate, _c: RecentCounts, _s: ModerationSettings,
              _n: datetime) -> Decision | None:
    return Decision(APPROVED, "open mode")


# Order matters: "stop" and the blocklist apply in every mode; the allowlist skips the filters;
# a link is held before the length check, so a link-only answer waits for the admin instead of
# being rejected as too short.
MODE_RULES: dict[str, tuple[Rule, ...]] = {
    "filtered": (rule_stop, rule_blocklist, rule_allowlist, rule_links, rule_min_chars,
                 rule_account_age, rule_caps),
    "open": (rule_stop, rule_blocklist, rule_open),
    "hold": (rule_stop, rule_blocklist, rule_hold_all),
}


# -- the store side ----------------------------------------------------------------------------
def recent_counts(conn: sqlite3.Connection, author_id: str, post_id: str,
                  now: datetime) -> RecentCounts:
    since = to_epoch(now - _DAY)
    query = ("SELECT COUNT(*) FROM replies WHERE {} = ? AND fetched_at >= ? "
             "AND status IN ('approved', 'relayed')")
    author = conn.execute(query.format("author_id"), (author_id, since)).fetchone()[0]
    thread = conn.execute(query.format("post_id"), (post_id, since)).fetchone()[0]
    return RecentCounts(int(author), int(thread))


def record_decision(conn: sqlite3.Connection, reply_id: str, decision: Decision, actor: str,
                    now: datetime) -> None:
    """Set the reply's status and reason, and keep the decision in the trail."""
    conn.execute("UPDATE replies SET status = ?, reason = ? WHERE reply_id = ?",
                 (decision.status, decision.reason, reply_id))
    conn.execute("INSERT INTO reply_decisions(reply_id, status, reason, actor, decided_at) "
                 "VALUES (?, ?, ?, ?, ?)", (reply_id, decision.status, decision.reason, actor,
                                            to_epoch(now)))


# -- the `moderate` command --------------------------------------------------------------------
_COLUMNS = ("reply_id, root_id, post_id, author_username, author_name, text, url, created_at, "
            "status, reason, relay_id")
_CHANGES = {"approve": (APPROVED, (HELD, REJECTED)), "reject": (REJECTED, (HELD, APPROVED))}


def run_moderate(store: Store, action: str, ids: Sequence[str], out: TextIO, now: datetime,
                 json: bool = False, actor: str = ADMIN) -> int:
    """`moderate list [ID...]`: held replies (or the named ones, any status).
    `moderate approve|reject ID...|all`: "all" means every held reply. 0 ok, 1 some ids refused,
    2 usage error."""
    if action == "list":
        rows = _select(store, ids) if ids else _held(store)
        _print_rows(rows, out, json)
        if not ids and not json:
            _print_other_counts(store, out)
        return 0
    if action not in _CHANGES:
        out.write(f"moderate: unknown action {action!r} (list, approve or reject)\n")
        return 2
    if not ids:
        out.write(f"moderate {action}: give reply ids or 'all'\n")
        return 2
    with store.transaction():
        refused = _change(store, action, ids, out, now, actor)
    return 1 if refused else 0


def _change(store: Store, action: str, ids: Sequence[str], out: TextIO, now: datetime,
            actor: str) -> int:
    target, allowed = _CHANGES[action]
    if list(ids) == ["all"]:  # every held reply, except that "stop" is never approved in bulk
        rows = [r for r in _held(store) if not (target == APPROVED and is_stop(str(r[5])))]
        missing: list[str] = []
        if not rows:
            out.write(f"no held replies to {action}\n")
    else:
        rows = _select(store, ids)
        missing = sorted(set(ids) - {str(r[0]) for r in rows})
    for reply_id in missing:
        out.write(f"{reply_id}: no such reply\n")
    refused = len(missing)
    for row in rows:
        reply_id, status, relay_id = str(row[0]), str(row[8]), row[10]
        stop = target == APPROVED and is_stop(str(row[5]))  # checked on the text: never relayed
        if status not in allowed or relay_id or stop:
            why = ("it asked to stop" if stop
                   else f"it is in relay email {relay_id}" if relay_id else f"it is {status}")
            out.write(f"{reply_id}: not {target}: {why}\n")
            refused += 1
            continue
        record_decision(store.conn, reply_id, Decision(target, f"{target} by {actor}"), actor, now)
        out.write(f"{reply_id}: {target}\n")
    return refused


def _held(store: Store) -> list[tuple[Any, ...]]:
    return list(store.conn.execute(
        f"SELECT {_COLUMNS} FROM replies WHERE status = 'held' ORDER BY created_at, reply_id"))


def _select(store: Store, ids: Sequence[str]) -> list[tuple[Any, ...]]:
    marks = ",".join("?" * len(ids))
    return list(store.conn.execute(
        f"SELECT {_COLUMNS} FROM replies WHERE reply_id IN ({marks}) ORDER BY created_at", tuple(ids)))


def _print_rows(rows: Sequence[Sequence[Any]], out: TextIO, json: bool) -> None:
    names = [c.strip() for c in _COLUMNS.split(",")]
    for row in rows:
        item: dict[str, Any] = dict(zip(names, row, strict=True))
        item["created_at"] = from_epoch(int(item["created_at"])).isoformat()
        if json:
            out.write(jsonlib.dumps(item, ensure_ascii=False) + "\n")
            continue
        text = " ".join(str(item["text"]).split())
        out.write(f"{item['reply_id']}  {item['created_at'][:16]}  @{item['author_username']}  "
                  f"[{item['status']}: {item['reason']}]\n    on {item['root_id']}\n"
                  f"    {text}\n    {item['url']}\n")
    if not json and not rows:
        out.write("no held replies\n")


def _print_other_counts(store: Store, out: TextIO) -> None:
    counts = dict(store.conn.execute(
        "SELECT status, COUNT(*) FROM replies WHERE status != 'held' GROUP BY status").fetchall())
    if counts:
        out.write("also stored: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) +
                  " (list ID... shows any reply; approve ID relays a rejected one)\n")
