"""The relaying stage: batch approved X replies per thread, store the email, send it exactly once.

Crash safety: the relay row (pending, exact bytes, our Message-ID) and the replies' relay_id are
written in one transaction before any SMTP traffic. Before each attempt a *lease* is committed:
attempts + 1 and next_attempt_at = now + resend_grace. A crash or an ambiguous failure (the
connection died while the message data was in flight) therefore leaves the row untouched for the
grace period; during it the list's echo of our Message-ID marks it sent (`mark_relays_seen`).
Only failures that prove the server did not take the message shorten the wait to a backoff.
Residual risk: a relay the server accepted whose echo does not arrive within the grace period (a
slow or moderated list, or one that does not send members their own posts) is sent again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from bridge.compose.relay_email import (
    RelayBuildError,
    RelaySettings,
    ReplyItem,
    build_relay_mail,
    check_reply,
)
from bridge.errors import MessageRefused, PermanentError, TransientError, is_ambiguous
from bridge.mail.echo import EchoSettings
from bridge.model import Mail
from bridge.store import relays
from bridge.store.db import Store, to_epoch
from bridge.store.mail import MailStore

RETRY_BASE = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)

log = structlog.get_logger()


class MailSender(Protocol):
    """What the stage needs from an SMTP adapter (bridge.adapters.smtp.SmtpSender)."""

    def send(self, raw: bytes, from_addr: str, to_addrs: Sequence[str]) -> None: ...


@dataclass
class RelayReport:
    """One run of the stage; `failed` lists "message-id: reason" for the admin."""

    created: int = 0  # relay emails built and stored
    sent: int = 0
    deferred: int = 0  # transient failure: still pending, next_attempt_at set
    uncertain: int = 0  # may have been delivered: waiting for the echo until resend_grace
    echoed: int = 0  # pending or sent relays the list delivered back
    held: int = 0  # replies set aside with a reason
    failed: list[str] = field(default_factory=list)
    relayed: dict[str, int] = field(default_factory=dict)  # network -> replies in sent relays


def relay_key(store: Store, settings: RelaySettings) -> bytes:
    """The token key: from the configured secret, else a random key made once and kept in the store."""
    if settings.token_secret is not None:
        secret = settings.token_secret.resolve().encode("utf-8")
        return hashlib.sha256(b"listserv-bridge relay token\0" + secret).digest()
    return relays.stored_token_key(store)


def echo_settings(store: Store, settings: RelaySettings) -> EchoSettings:
    """What ingest needs to recognise our relays (ids of stored relays: MailStore.is_relay_id)."""
    return EchoSettings(settings.from_address, settings.id_domain, relay_key(store, settings))


def new_message_id(domain: str, now: datetime) -> str:
    return f"lsb-relay.{to_epoch(now)}.{os.urandom(8).hex()}@{domain}"


def retry_delay(attempts: int, base: timedelta = RETRY_BASE) -> timedelta:
    """Backoff after a failure that proves nothing was delivered: 5m, 10m, 20m ... at most 6h
    (with the default base of [relay] retry_base)."""
    factor: int = 2 ** min(max(attempts - 1, 0), 16)
    return min(base * factor, RETRY_MAX)


def relay_approved(store: Store, sender: MailSender, settings: RelaySettings, now: datetime,
                   key: bytes | None = None) -> RelayReport:
    """Run the stage once: note echoes, build due batches, send due relays. `key`: the token key
    the caller already read (the daemon reads it once), else it is read now."""
    report = RelayReport()
    key = relay_key(store, settings) if key is None else key
    report.echoed = len(mark_relays_seen(store, now))
    for root_id in due_threads(store, settings, now):
        create_relay(store, root_id, settings, now, key, report)
    send_due(store, sender, settings, now, report)
    log.info("relaying_finished", created=report.created, sent=report.sent, deferred=report.deferred,
             uncertain=report.uncertain, echoed=report.echoed, held=report.held,
             failed=len(report.failed))
    return report


def mark_relays_seen(store: Store, now: datetime) -> list[str]:
    """Relays whose Message-ID the list delivered back (it is in messages): echoed, and sent."""
    with store.transaction() as conn:
        ids = relays.unechoed_seen(conn)
        for message_id in ids:
            relays.mark_echoed(conn, message_id, now)
            log.info("relay_echoed", message_id=message_id)
    return ids


def due_threads(store: Store, settings: RelaySettings, now: datetime) -> list[str]:
    """Roots with approved, unrelayed replies whose first one was fetched a batch window ago."""
    return relays.roots_with_approved(store, now - settings.batch_window)


def create_relay(store: Store, root_id: str, settings: RelaySettings, now: datetime, key: bytes,
                 report: RelayReport) -> str | None:
    """Build and store one relay for a thread's approved replies; returns its Message-ID."""
    with store.transaction() as conn:
        items = relays.approved_items(conn, root_id)
        question = MailStore(store).get_mail(root_id)
        if question is None:
            _hold(conn, [(i, "the question is not in the store") for i in items], report)
            return None
        usable, set_aside = split_relayable(question, items, settings, now, key)
        _hold(conn, set_aside, report)
        if not usable:
            return None
        message_id = new_message_id(settings.id_domain, now)
        try:
            raw = build_relay_mail(question, usable, settings, message_id, date=now, key=key)
        except RelayBuildError as exc:  # each alone was fine: never seen, but never loop on it
            _hold(conn, [(i, f"cannot build the batch: {exc}") for i in usable], report)
            return None
        relays.add_relay(conn, message_id, root_id, raw, [i.reply_id for i in usable], now)
    report.created += 1
    log.info("relay_created", message_id=message_id, root=root_id, replies=len(usable))
    return message_id


def split_relayable(question: Mail, items: list[ReplyItem], settings: RelaySettings, now: datetime,
                    key: bytes) -> tuple[list[ReplyItem], list[tuple[ReplyItem, str]]]:
    """(relayable replies, [(reply, reason)]): each reply is tried alone, so one bad one is set
    aside without taking the others down with it."""
    usable: list[ReplyItem] = []
    set_aside: list[tuple[ReplyItem, str]] = []
    for item in items:
        reason = check_reply(item)
        if reason is None:
            try:
                build_relay_mail(question, [item], settings, "probe@invalid.example", date=now, key=key)
            except (RelayBuildError, ValueError, TypeError, UnicodeError, LookupError) as exc:
                reason = f"cannot build the email: {type(exc).__name__}: {exc}"
        if reason is None:
            usable.append(item)
        else:
            set_aside.append((item, reason[:300]))
    return usable, set_aside


def _hold(conn: sqlite3.Connection, set_aside: list[tuple[ReplyItem, str]], report: RelayReport) -> None:
    for item, why in set_aside:
        relays.hold_reply(conn, item.reply_id, f"relay: {why}")
        report.held += 1
        log.warning("reply_held", reply_id=item.reply_id, reason=why)


def send_due(store: Store, sender: MailSender, settings: RelaySettings, now: datetime,
             report: RelayReport) -> None:
    """Send every pending relay whose next attempt is due, each behind its lease."""
    for relay in relays.due_sends(store, now):
        if relay.created_at + settings.give_up_after <= now:
            _fail(store, relay.message_id, f"not delivered within {settings.give_up_after}", report)
        elif relays.lease(store, relay.message_id, now + settings.resend_grace, now):
            send_one(store, sender, settings, relay.message_id, relay.raw, now, report)


def send_one(store: Store, sender: MailSender, settings: RelaySettings, message_id: str, raw: bytes,
             now: datetime, report: RelayReport) -> None:
    try:
        sender.send(raw, settings.from_address, [settings.list_address])
    except MessageRefused as exc:
        _fail(store, message_id, str(exc), report)
    except TransientError as exc:
        _defer(store, message_id, exc, now, report, settings)
    except PermanentError as exc:  # the session, not this message (auth, TLS): stop and tell
        _release(store, message_id, str(exc), now, settings.retry_base)
        raise
    else:
        for network, count in relays.mark_sent(store, message_id, now).items():
            report.relayed[network] = report.relayed.get(network, 0) + count
        report.sent += 1
        log.info("reply_relayed", message_id=message_id)


def _defer(store: Store, message_id: str, exc: TransientError, now: datetime, report: RelayReport,
           settings: RelaySettings) -> None:
    if is_ambiguous(exc):  # keep the lease: wait for the echo, then resend
        relays.note_error(store, message_id, f"outcome unknown: {exc}")
        report.uncertain += 1
        log.warning("relay_outcome_unknown", message_id=message_id, error=str(exc))
        return
    _release(store, message_id, str(exc), now, settings.retry_base)
    report.deferred += 1
    log.warning("relay_deferred", message_id=message_id, error=str(exc))


def _release(store: Store, message_id: str, error: str, now: datetime,
             base: timedelta = RETRY_BASE) -> None:
    """Nothing was delivered: retry after the backoff instead of the grace period."""
    relays.retry_later(store, message_id, error, now, lambda attempts: retry_delay(attempts, base))


def _fail(store: Store, message_id: str, error: str, report: RelayReport) -> None:
    relays.fail(store, message_id, error)
    report.failed.append(f"{message_id}: {error}")
    log.error("relay_failed", message_id=message_id, error=error)
