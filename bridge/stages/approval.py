"""The approval stage: apply the moderators' answers that ingest stored, expire unanswered
requests, and email a request for each held post or reply that has none, exactly once.

A request's row (pending, the exact bytes, our Message-ID, its token) is committed before any
SMTP traffic, and each attempt takes a lease first (as the relay does): a crash never loses the
request, and an attempt whose outcome is unknown is not repeated before the lease runs out.
Residual risk, as with the relay: a server that took the message but dropped the connection
before answering gets the same bytes (same Message-ID) again after the lease.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from bridge.compose.approval_email import ApprovalItem, Envelope, build_approval_mail
from bridge.compose.relay_email import RelaySettings, ReplyItem, author_label
from bridge.decide.approval import (
    POST,
    REPLY,
    ApprovalSettings,
    evidence_lines,
    expires_at,
    expiry_reason,
    judge_answer,
    make_token,
    request_message_id,
)
from bridge.errors import MessageRefused, PermanentError, TransientError, is_ambiguous
from bridge.stages.relay import MailSender, retry_delay
from bridge.store import approvals as rows
from bridge.store.db import Store, from_epoch, to_epoch
from bridge.store.mail import MailStore

log = structlog.get_logger(__name__)


@dataclass
class ApprovalReport:
    applied: int = 0  # answers that approved or rejected a request
    ignored: int = 0  # answers that did not count (with the reason in the store)
    released: list[str] = field(default_factory=list)  # posts approved: now queued
    expired: int = 0
    closed: int = 0  # decided by the admin meanwhile
    created: int = 0  # request emails stored
    sent: int = 0
    deferred: int = 0
    failed: int = 0


def run_approval(store: Store, sender: MailSender | None, settings: ApprovalSettings,
                 relay: RelaySettings | None, key: bytes, now: datetime) -> ApprovalReport:
    """One pass: answers, then expiry, then new requests, then sending what is due."""
    report = ApprovalReport()
    apply_answers(store, settings, now, report)
    report.closed = len(rows.close_decided_elsewhere(store, now))
    report.expired = len(rows.expire_due(store, expiry_reason(settings), now))
    if settings.enabled and relay is not None:
        envelope = Envelope(relay.from_address, relay.from_name, tuple(sorted(settings.moderators)),
                            settings.plus_address)
        create_requests(store, settings, envelope, relay.id_domain, key, now, report)
        if sender is not None:
            send_due(store, sender, envelope, relay.resend_grace, relay.retry_base, now, report)
    log.info("approval_finished", applied=report.applied, ignored=report.ignored,
             released=len(report.released), expired=report.expired, closed=report.closed,
             created=report.created, sent=report.sent, deferred=report.deferred,
             failed=report.failed)
    return report


def apply_answers(store: Store, settings: ApprovalSettings, now: datetime,
                  report: ApprovalReport) -> None:
    for stored in rows.new_answers(store):
        answer = stored.answer
        request = rows.request_state(store, answer.token) if answer.token else None
        # in time if it arrived before the expiry, whenever this stage gets to apply it
        outcome = judge_answer(answer, request, settings.moderators, from_epoch(stored.received_at))
        if outcome.action == "ignore" or request is None:
            with store.transaction() as conn:
                rows.settle_answer(conn, answer.message_id, "ignored", outcome.reason, now)
            report.ignored += 1
            log.warning("approval_answer_ignored", message_id=answer.message_id,
                        sender=answer.from_address, reason=outcome.reason)
            continue
        if rows.apply_verdict(store, request, outcome.action, answer.from_address, outcome.reason,
                              answer.message_id, now):
            report.applied += 1
            if request.kind == POST and outcome.action == "approve":
                report.released.append(request.item_id)
            log.info("approval_applied", kind=request.kind, item=request.item_id,
                     verdict=outcome.action, moderator=answer.from_address)
        else:
            report.ignored += 1
            log.info("approval_answer_late", kind=request.kind, item=request.item_id)


def create_requests(store: Store, settings: ApprovalSettings, envelope: Envelope, domain: str,
                    key: bytes, now: datetime, report: ApprovalReport) -> None:
    """A stored request email for every held post and reply that has none yet."""
    mails = MailStore(store)
    until = expires_at(now, settings)
    items: list[tuple[ApprovalItem, str]] = []
    for post in rows.posts_without_request(store):
        question = mails.get_mail(post.root_id)
        items.append((ApprovalItem(
            POST, make_token(key, POST, post.root_id), post.texts,
            question.subject if question else "", question.date if question else None, post.link,
            tuple(e for r in post.reasons for e in evidence_lines(r)), until), post.root_id))
    for reply in rows.replies_without_request(store):
        question = mails.get_mail(reply.root_id)
        label = author_label(ReplyItem(reply.reply_id, reply.author_name, reply.author_username,
                                       reply.text, reply.url, from_epoch(reply.created_at)))
        items.append((ApprovalItem(
            REPLY, make_token(key, REPLY, reply.reply_id), ((reply.network, reply.text),),
            question.subject if question else "", question.date if question else None, reply.link,
            evidence_lines(reply.reason), until, author=label, url=reply.url), reply.reply_id))
    for item, item_id in items:
        message_id = request_message_id(item.token, f"{to_epoch(now)}{os.urandom(4).hex()}", domain)
        raw = build_approval_mail(item, envelope, message_id, date=now)
        rows.add_request(store, rows.NewRequest(item.token, item.kind, item_id, message_id, raw,
                                                envelope.moderators, until), now)
        report.created += 1
        log.info("approval_requested", kind=item.kind, item=item_id, message_id=message_id)


def send_due(store: Store, sender: MailSender, envelope: Envelope, grace: timedelta,
             retry_base: timedelta, now: datetime, report: ApprovalReport) -> None:
    for request in rows.due_sends(store, now):
        if not rows.lease(store, request.token, now + grace, now):
            continue
        try:
            sender.send(request.raw, envelope.from_address, list(request.recipients))
        except MessageRefused as exc:
            rows.fail_send(store, request.token, str(exc))
            report.failed += 1
            log.error("approval_request_failed", token=request.token, error=str(exc))
        except TransientError as exc:
            report.deferred += 1
            if not is_ambiguous(exc):  # surely not taken: retry after a backoff
                at = now + retry_delay(rows.attempts(store, request.token), retry_base)
                rows.retry_send(store, request.token, at, str(exc))
            log.warning("approval_request_deferred", token=request.token, error=str(exc))
        except PermanentError as exc:  # the session (auth, TLS): stop and tell
            rows.retry_send(store, request.token, now + retry_base, str(exc))
            raise
        else:
            rows.mark_sent(store, request.token, now)
            report.sent += 1
            log.info("approval_request_sent", token=request.token, message_id=request.message_id)


def next_wake(store: Store) -> datetime | None:
    """The earliest send retry or expiry: when the stage has work again."""
    times = [t for t in (rows.next_send_at(store), rows.next_expiry_at(store)) if t is not None]
    return min(times) if times else None
