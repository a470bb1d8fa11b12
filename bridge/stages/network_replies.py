"""Replies from Mastodon and Bluesky: one poll per network when due, each reply stored once with
its moderation decision, the network's cursor moving in the same transaction.

X keeps its own poller (bridge.stages.replies: since-ids per source, a paid read budget); these
networks read free, through the Network interface (bridge.stages.network). A reply's id is
stored as "<network>:<id>" so ids of two networks never meet; the relay email names the replier
as the network shows them and links to the reply.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

import structlog

from bridge.config.sections import ReplySettings
from bridge.decide.handles import strip_leading_mentions
from bridge.decide.moderation import AUTOMATIC, ModerationSettings, ReplyCandidate, moderate
from bridge.errors import BridgeError, RateLimited, TransientError
from bridge.model import Reply, ReplyBatch
from bridge.stages.network import Network
from bridge.stages.replies import PollReport, _record_poll, next_poll_at, posts_in_window
from bridge.store import replies as rows
from bridge.store.db import Store
from bridge.store.posts import OurPost

log = structlog.get_logger(__name__)


def cursor_source(network: str) -> str:
    return f"{network}:notifications"


def stored_id(network: str, reply_id: str) -> str:
    return f"{network}:{reply_id}"


def poll_network(store: Store, network: Network, settings: ReplySettings,
                 moderation: ModerationSettings, now: datetime) -> PollReport:
    """One poll of `network` if one is due; new replies stored with their moderation decision."""
    name = network.name
    posts = posts_in_window(store, settings.reply_window, now, name)
    if not posts:
        return PollReport(False, "no post within its reply window")
    due, why = next_poll_at(store.conn, settings, now, name)
    if due > now:
        return PollReport(False, f"not due: {why}", next_poll_at=due)
    report = PollReport(True, "ok", calls=1)
    failure: BridgeError | None = None
    batch = ReplyBatch((), None)
    try:
        cursor = rows.cursors(store.conn, name).get(cursor_source(name))
        batch = network.replies_since(cursor, [p.post_id for p in posts])
    except BridgeError as exc:
        failure = exc
    with store.transaction() as conn:
        report.reads = batch.reads
        by_post = {p.post_id: p for p in posts}
        for reply in batch.replies:
            ours = by_post.get(reply.post_id)
            if ours is None:
                report.ignored += 1
            elif rows.exists(conn, stored_id(name, reply.id)):
                report.duplicates += 1
            else:
                status = _store(conn, name, reply, ours, moderation, now)
                report.stored[status] = report.stored.get(status, 0) + 1
        if batch.cursor is not None:
            rows.set_cursor(conn, name, cursor_source(name), batch.cursor, now)
        _record_poll(conn, report, failure, settings, now, name)
    _log(name, report, failure)
    if failure is not None and not isinstance(failure, TransientError):
        raise failure  # auth or permanent: the daemon tells the admin
    return report


def _store(conn: sqlite3.Connection, network: str, reply: Reply, ours: OurPost,
           moderation: ModerationSettings, now: datetime) -> str:
    reply_id = stored_id(network, reply.id)
    author = reply.author
    candidate = ReplyCandidate(
        reply_id=reply_id, post_id=ours.post_id, author_id=stored_id(network, author.id),
        author_username=author.handle, author_created_at=author.created_at,
        text=strip_leading_mentions(reply.text) or reply.text, urls=reply.urls)
    verdict = moderate(candidate, rows.recent_counts(conn, candidate.author_id, ours.post_id, now),
                       moderation, now)
    rows.add_reply(conn, rows.NewReply(
        reply_id, ours.root_id, ours.post_id, candidate.author_id, author.handle,
        author.name or author.handle, author.created_at, reply.text, reply.url, reply.created_at,
        network), verdict, now)
    rows.record_decision(conn, reply_id, verdict, AUTOMATIC, now)
    log.info("reply_stored", network=network, reply_id=reply_id, post_id=ours.post_id,
             root=ours.root_id, author=author.handle, status=verdict.status,
             reason=verdict.reason)
    return verdict.status


def _log(network: str, report: PollReport, failure: BridgeError | None) -> None:
    fields = {"network": network, "reads": report.reads, "duplicates": report.duplicates,
              "ignored": report.ignored, "next_poll_at": report.next_poll_at, **report.stored}
    if failure is None:
        log.info("replies_polled", **fields)
    elif isinstance(failure, RateLimited):
        log.warning("replies_rate_limited", reason=report.reason, **fields)
    else:
        log.warning("replies_poll_failed", reason=report.reason, **fields)
