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
import time
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
from bridge.store.db import Store, from_epoch, to_epoch
from bridge.store.mail import MailStore

RETRY_BASE = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)
_REPLY_COLUMNS = "reply_id, author_name, author_username, text, url, created_at"

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


def relay_key(store: Store, settings: RelaySettings) -> bytes:
    """The token key: from the configured secret, else a random key made once and kept in the store."""
    if settings.token_secret is not None:
        secret = settings.token_secret.resolve().encode("utf-8")
        return hashlib.sha256(b"listserv-bridge relay token\0" + secret).digest()
    with store.transaction() as conn:
        row = conn.execute("SELECT value FROM relay_keys WHERE name = 'token'").fetchone()
        if row is not None:
            return bytes(row[0])
        key = os.urandom(32)
        conn.execute("INSERT INTO relay_keys(name, value, created_at) VALUES ('token', ?, ?)",
                     (key, int(time.time())))
        return key


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
        ids = [str(r[0]) for r in conn.execute(
            "SELECT r.message_id FROM relays r JOIN messages m ON m.message_id = r.message_id "
            "WHERE r.echoed_at IS NULL ORDER BY r.created_at")]
        for message_id in ids:
            conn.execute(
                "UPDATE relays SET echoed_at = ?, status = 'sent', sent_at = COALESCE(sent_at, ?), "
                "error = '' WHERE message_id = ?", (to_epoch(now), to_epoch(now), message_id))
            conn.execute("UPDATE replies SET status = 'relayed' WHERE relay_id = ? AND status = 'approved'",
                         (message_id,))
            log.info("relay_echoed", message_id=message_id)
    return ids


def due_threads(store: Store, settings: RelaySettings, now: datetime) -> list[str]:
    """Roots with approved, unrelayed replies whose first one was fetched a batch window ago."""
    rows = store.conn.execute(
        "SELECT root_id FROM replies WHERE status = 'approved' AND relay_id IS NULL "
        "GROUP BY root_id HAVING MIN(fetched_at) <= ? ORDER BY MIN(fetched_at), root_id",
        (to_epoch(now - settings.batch_window),))
    return [str(r[0]) for r in rows]


def create_relay(store: Store, root_id: str, settings: RelaySettings, now: datetime, key: bytes,
                 report: RelayReport) -> str | None:
    """Build and store one relay for a thread's approved replies; returns its Message-ID."""
    with store.transaction() as conn:
        items = _approved_items(conn, root_id)
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
        conn.execute(
            "INSERT INTO relays(message_id, root_id, status, raw, next_attempt_at, created_at) "
            "VALUES (?, ?, 'pending', ?, ?, ?)", (message_id, root_id, raw, to_epoch(now), to_epoch(now)))
        conn.executemany("UPDATE replies SET relay_id = ? WHERE reply_id = ?",
                         [(message_id, i.reply_id) for i in usable])
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


def _approved_items(conn: sqlite3.Connection, root_id: str) -> list[ReplyItem]:
    rows = conn.execute(
        f"SELECT {_REPLY_COLUMNS} FROM replies WHERE root_id = ? AND status = 'approved' "
        "AND relay_id IS NULL ORDER BY created_at, reply_id", (root_id,))
    return [ReplyItem(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), from_epoch(int(r[5])))
            for r in rows]


def _hold(conn: sqlite3.Connection, set_aside: list[tuple[ReplyItem, str]], report: RelayReport) -> None:
    for item, why in set_aside:
        conn.execute("UPDATE replies SET status = 'held', reason = ? WHERE reply_id = ?",
                     (f"relay: {why}", item.reply_id))
        report.held += 1
        log.warning("reply_held", reply_id=item.reply_id, reason=why)


def send_due(store: Store, sender: MailSender, settings: RelaySettings, now: datetime,
             report: RelayReport) -> None:
    """Send every pending relay whose next attempt is due, each behind its lease."""
    rows = store.conn.execute(
        "SELECT message_id, raw, created_at FROM relays WHERE status = 'pending' "
        "AND next_attempt_at <= ? ORDER BY created_at, message_id", (to_epoch(now),)).fetchall()
    for message_id, raw, created_at in rows:
        if from_epoch(int(created_at)) + settings.give_up_after <= now:
            _fail(store, str(message_id), f"not delivered within {settings.give_up_after}", report)
        elif _lease(store, str(message_id), now + settings.resend_grace, now):
            send_one(store, sender, settings, str(message_id), bytes(raw), now, report)


def _lease(store: Store, message_id: str, until: datetime, now: datetime) -> bool:
    """Claim one attempt durably; False when another run claimed it first."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE relays SET attempts = attempts + 1, next_attempt_at = ? WHERE message_id = ? "
            "AND status = 'pending' AND next_attempt_at <= ?", (to_epoch(until), message_id, to_epoch(now)))
        return cur.rowcount == 1


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
        with store.transaction() as conn:
            conn.execute("UPDATE relays SET status = 'sent', sent_at = ?, error = '' WHERE message_id = ?",
                         (to_epoch(now), message_id))
            conn.execute("UPDATE replies SET status = 'relayed' WHERE relay_id = ? AND status = 'approved'",
                         (message_id,))
        report.sent += 1
        log.info("reply_relayed", message_id=message_id)


def _defer(store: Store, message_id: str, exc: TransientError, now: datetime, report: RelayReport,
           settings: RelaySettings) -> None:
    if is_ambiguous(exc):  # keep the lease: wait for the echo, then resend
        with store.transaction() as conn:
            conn.execute("UPDATE relays SET error = ? WHERE message_id = ?",
                         (f"outcome unknown: {exc}", message_id))
        report.uncertain += 1
        log.warning("relay_outcome_unknown", message_id=message_id, error=str(exc))
        return
    _release(store, message_id, str(exc), now, settings.retry_base)
    report.deferred += 1
    log.warning("relay_deferred", message_id=message_id, error=str(exc))


def _release(store: Store, message_id: str, error: str, now: datetime,
             base: timedelta = RETRY_BASE) -> None:
    """Nothing was delivered: retry after the backoff instead of the grace period."""
    with store.transaction() as conn:
        row = conn.execute("SELECT attempts FROM relays WHERE message_id = ?", (message_id,)).fetchone()
        retry_at = now + retry_delay(int(row[0]) if row else 1, base)
        conn.execute("UPDATE relays SET next_attempt_at = ?, error = ? WHERE message_id = ?",
                     (to_epoch(retry_at), error, message_id))


def _fail(store: Store, message_id: str, error: str, report: RelayReport) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE relays SET status = 'failed', error = ? WHERE message_id = ?",
                     (error, message_id))
    report.failed.append(f"{message_id}: {error}")
    log.error("relay_failed", message_id=message_id, error=error)
