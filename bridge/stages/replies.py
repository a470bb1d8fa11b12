"""Picking up replies to our posts on X: when to poll (interval, read budget, X's rate limit),
what to read (mentions since the last seen id, and recent search per conversation), and storing
each reply once with its moderation decision. The bridge only reads on X; it never replies.

A poll reads first and then writes everything in one transaction: the replies, their decisions,
the since-ids that cover them and the poll's own row. A crash before the commit leaves the
cursors where they were, so the next poll reads the same replies again and stores them once.
"""

from __future__ import annotations

import functools
import html
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from bridge.config.sections import ReplySettings
from bridge.decide.moderation import AUTOMATIC, ModerationSettings, ReplyCandidate, moderate
from bridge.errors import BridgeError, RateLimited, TransientError
from bridge.model import XPost
from bridge.store import posts as postrows
from bridge.store import replies as rows
from bridge.store.db import Store
from bridge.store.posts import OurPost

log = structlog.get_logger(__name__)
MENTIONS = "mentions"
_DAY = timedelta(days=1)
_SHOWN = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky"}
_TCO = re.compile(r"https://t\.co/[A-Za-z0-9]+")


class ReplySource(Protocol):
    """What the poller needs from X (bridge.adapters.x_client.XClient has it)."""

    def account_id(self) -> str:
        """Our own account's id: its posts are ours, not replies."""
        ...

    def mentions(self, user_id: str, since_id: str | None) -> list[XPost]: ...

    def search_conversation(self, conversation_id: str, since_id: str | None) -> list[XPost]: ...


@dataclass
class PollReport:
    polled: bool
    reason: str  # why no poll happened, or how it ended ("ok", "rate limited ...")
    next_poll_at: datetime | None = None
    calls: int = 0
    reads: int = 0
    stored: dict[str, int] = field(default_factory=dict)  # status -> new replies
    duplicates: int = 0
    ignored: int = 0
    outcome: str = ""  # of a poll that ran: ok, rate_limited, failed


# -- when ------------------------------------------------------------------------------------
def posts_in_window(store: Store, window: timedelta, now: datetime,
                    network: str = "x") -> list[OurPost]:
    return postrows.confirmed_since(store, now - window, network)


def next_poll_at(conn: sqlite3.Connection, settings: ReplySettings,
                 now: datetime, network: str = "x") -> tuple[datetime, str]:
    """The earliest time a poll of `network` may run (after the interval, its reset, within
    the read budget) and what holds it back."""
    due, why = now, ""
    last = rows.last_poll(conn, network)
    if last is not None:
        due, why = max((due, why), (last.polled_at + settings.min_poll_interval,
                                    "minimum poll interval"))
        if last.retry_at is not None:
            due, why = max((due, why), (last.retry_at,
                                        f"rate limited by {_SHOWN.get(network, network)}"))
    recent = rows.reads_since(conn, now - _DAY, network)
    reads = sum(count for _, count in recent)
    if reads >= settings.daily_read_budget:
        # wait until enough of the last 24 hours' reads have aged out of the window
        spare, freed_at = reads - settings.daily_read_budget, now + _DAY
        for at, count in recent:
            spare -= count
            freed_at = at + _DAY
            if spare < 0:
                break
        due, why = max((due, why), (freed_at, f"read budget spent ({reads} posts in 24h)"))
    return due, why


# -- what ------------------------------------------------------------------------------------
def poll_replies(store: Store, client: ReplySource, me_id: str, settings: ReplySettings,
                 moderation: ModerationSettings, now: datetime) -> PollReport:
    """One poll if one is due; new replies are stored with their moderation decision."""
    posts = posts_in_window(store, settings.reply_window, now)
    if not posts:
        return PollReport(False, "no post within its reply window")
    due, why = next_poll_at(store.conn, settings, now)
    if due > now:
        return PollReport(False, f"not due: {why}", next_poll_at=due)
    report = PollReport(True, "ok")
    fetched: list[tuple[str, list[XPost]]] = []
    failure: BridgeError | None = None
    try:
        for source, call in _plan_calls(store.conn, client, me_id, posts, settings.use_search):
            report.calls += 1
            fetched.append((source, call()))
    except BridgeError as exc:  # keep what was read before the failure; its cursors move too
        failure = exc
    with store.transaction():
        _store_fetched(store.conn, fetched, posts, me_id, moderation, now, report)
        _record_poll(store.conn, report, failure, settings, now)
    _log_poll(report, failure)
    if failure is not None and not isinstance(failure, TransientError):
        raise failure  # auth or permanent: the daemon tells the admin
    return report


def _plan_calls(conn: sqlite3.Connection, client: ReplySource, me_id: str,
                posts: Sequence[OurPost], use_search: bool,
                ) -> list[tuple[str, Callable[[], list[XPost]]]]:
    """(cursor source, call) pairs. Without a cursor, read from our oldest post in its window:
    a reply always has a larger id than the post it answers."""
    cursors = rows.cursors(conn)
    oldest = str(min(int(p.post_id) for p in posts))
    since = _larger_id(cursors.get(MENTIONS), oldest)
    calls: list[tuple[str, Callable[[], list[XPost]]]] = [
        (MENTIONS, functools.partial(client.mentions, me_id, since))]
    for post in posts if use_search else ():
        source = f"search:{post.post_id}"
        after = _larger_id(cursors.get(source), post.post_id)
        calls.append((source, functools.partial(client.search_conversation, post.post_id, after)))
    return calls


def _larger_id(a: str | None, b: str) -> str:
    return a if a is not None and int(a) > int(b) else b


def _store_fetched(conn: sqlite3.Connection, fetched: Sequence[tuple[str, list[XPost]]],
                   posts: Sequence[OurPost], me_id: str, moderation: ModerationSettings,
                   now: datetime, report: PollReport) -> None:
    by_conversation = {p.post_id: p for p in posts}
    seen: set[str] = set()
    for source, found in fetched:
        report.reads += len(found)
        for post in found:
            ours = by_conversation.get(post.conversation_id or "")
            if ours is None or _ignored(post, me_id):
                report.ignored += post.id not in seen
            elif post.id in seen or rows.exists(conn, post.id):
                report.duplicates += 1
            else:
                status = _store_reply(conn, post, ours, moderation, now)
                report.stored[status] = report.stored.get(status, 0) + 1
            seen.add(post.id)
        if found:
            rows.advance_cursor(conn, source, max((p.id for p in found), key=int), now)


def _ignored(post: XPost, me_id: str) -> bool:
    """Our own posts and retweets are not replies."""
    kinds = {kind for kind, _ in post.referenced}
    return post.author_id == me_id or "retweeted" in kinds or post.text.startswith("RT @")


def _store_reply(conn: sqlite3.Connection, post: XPost, ours: OurPost,
                 moderation: ModerationSettings, now: datetime) -> str:
    candidate = candidate_of(post, ours.post_id)
    verdict = moderate(candidate, rows.recent_counts(conn, candidate.author_id, ours.post_id, now),
                       moderation, now)
    username = post.author_username or ""
    rows.add_reply(conn, rows.NewReply(
        reply_id=post.id, root_id=ours.root_id, post_id=ours.post_id, author_id=candidate.author_id,
        author_username=username, author_name=post.author_name or username,
        author_created_at=post.author_created_at, text=candidate.text,
        url=f"https://x.com/{username or 'i/web'}/status/{post.id}",
        created_at=post.created_at or now), verdict, now)
    rows.record_decision(conn, post.id, verdict, AUTOMATIC, now)
    log.info("reply_stored", reply_id=post.id, post_id=ours.post_id, root=ours.root_id,
             author=username, status=verdict.status, reason=verdict.reason)
    return verdict.status


def candidate_of(post: XPost, post_id: str) -> ReplyCandidate:
    return ReplyCandidate(
        reply_id=post.id, post_id=post_id, author_id=post.author_id or "",
        author_username=post.author_username or "", author_created_at=post.author_created_at,
        text=reply_text(post), urls=post.expanded_urls)


def reply_text(post: XPost) -> str:
    """The text as people wrote it: X's HTML escapes undone and t.co links expanded (X lists
    its URL entities in text order, so the n-th t.co link is the n-th expanded URL)."""
    text = html.unescape(post.text)
    if len(_TCO.findall(text)) != len(post.expanded_urls):
        return text
    urls = iter(post.expanded_urls)
    return _TCO.sub(lambda _: next(urls), text)


def _record_poll(conn: sqlite3.Connection, report: PollReport, failure: BridgeError | None,
                 settings: ReplySettings, now: datetime, network: str = "x") -> None:
    outcome, retry_at = "ok", None
    if isinstance(failure, RateLimited):
        outcome = "rate_limited"
        retry_at = failure.reset_at or now + settings.min_poll_interval
        report.reason = f"rate limited until {retry_at:%Y-%m-%d %H:%M:%S} UTC"
    elif failure is not None:
        outcome, report.reason = "failed", f"failed: {failure}"
    report.outcome = outcome
    rows.record_poll(conn, now, report.calls, report.reads, outcome, retry_at, str(failure or ""),
                     network)
    report.next_poll_at = next_poll_at(conn, settings, now, network)[0]


def _log_poll(report: PollReport, failure: BridgeError | None) -> None:
    fields = {"calls": report.calls, "reads": report.reads, "duplicates": report.duplicates,
              "ignored": report.ignored, "next_poll_at": report.next_poll_at, **report.stored}
    if failure is None:
        log.info("replies_polled", **fields)
    else:
        log.warning("replies_poll_failed", reason=report.reason, **fields)
