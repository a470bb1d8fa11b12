"""The ingest stage: raw mail in batches -> parsed, threaded, stored; problems recorded, never fatal.

Each batch is one transaction: its messages, its problems and the source cursor commit together,
so a crash at any point re-reads at most one batch, and the Message-ID dedupes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice

import structlog

from bridge.mail import MailParseError, ParseOptions, parse_mail
from bridge.mailstore import MailStore
from bridge.model import Cursor, Mail, Problem, RawMail

log = structlog.get_logger()


@dataclass(slots=True)
class IngestReport:
    """What one pass did; the closing summary an admin reads."""

    seen: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped_list: int = 0  # from another list than the configured List-Id
    problems: int = 0
    threads: set[int] = field(default_factory=set)

    def add(self, other: IngestReport) -> None:
        self.seen += other.seen
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.skipped_list += other.skipped_list
        self.problems += other.problems
        self.threads |= other.threads

    def as_dict(self) -> dict[str, int]:
        return {
            "messages_seen": self.seen,
            "messages_stored": self.stored,
            "duplicates": self.duplicates,
            "other_list": self.skipped_list,
            "problems": self.problems,
            "threads_touched": len(self.threads),
        }


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """Choices fixed for a pass: whose bodies to parse, which list to keep."""

    body_since: datetime | None = None  # parse bodies of mail dated at/after this; None = all
    list_id: str = ""  # keep only this List-Id ("" = keep all)
    list_addresses: frozenset[str] = frozenset()


def parse_raw(raw: RawMail, policy: IngestPolicy) -> list[Mail]:
    """Parse one raw message; bodies only for mail recent enough to matter (MailParseError)."""
    if not raw.data:
        raise MailParseError(raw.source.partition("(")[2].rstrip(")") or "empty message")
    options = ParseOptions(
        want_body=False, fallback_date=raw.internal_date, list_addresses=policy.list_addresses
    )
    mails = parse_mail(raw.data, options)
    if policy.body_since is None or any(m.date >= policy.body_since for m in mails):
        mails = parse_mail(raw.data, replace(options, want_body=True))
    return mails


def store_batch(
    mailstore: MailStore,
    raws: Iterable[RawMail],
    policy: IngestPolicy,
    cursor: Cursor | None = None,
    problems: Iterable[Problem] = (),
) -> IngestReport:
    """Parse and store one batch in one transaction, with its problems and cursor."""
    report = IngestReport()
    store = mailstore.store
    with store.transaction():
        for problem in problems:
            store.add_problem(problem)
            report.problems += 1
            log.warning("mail_skipped", source=problem.source, reason=problem.reason)
        for raw in raws:
            report.seen += 1
            _store_one(mailstore, raw, policy, report)
        mailstore.flush()
        if cursor is not None:
            store.set_cursor(cursor)
    return report


def _store_one(mailstore: MailStore, raw: RawMail, policy: IngestPolicy, report: IngestReport) -> None:
    try:
        mails = parse_raw(raw, policy)
    except Exception as exc:  # one bad message must never stop a pass
        reason = str(exc) if isinstance(exc, MailParseError) else f"{type(exc).__name__}: {exc}"
        mailstore.store.add_problem(Problem(raw.source, reason, None, raw.size or len(raw.data)))
        report.problems += 1
        log.warning("mail_skipped", source=raw.source, reason=reason)
        return
    for mail in mails:
        if policy.list_id and mail.list_id and mail.list_id != policy.list_id:
            report.skipped_list += 1
            continue
        thread_id = mailstore.add_mail(mail, raw.source)
        if thread_id is None:
            report.duplicates += 1
        else:
            report.stored += 1
            report.threads.add(thread_id)


def batched(items: Iterable[RawMail], size: int) -> Iterator[list[RawMail]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def ingest_archive(
    mailstore: MailStore, raws: Iterable[RawMail], policy: IngestPolicy, batch_size: int = 500
) -> IngestReport:
    """Ingest a local archive (mbox, Maildir) through the same stage as IMAP mail."""
    total = IngestReport()
    for chunk in batched(raws, batch_size):
        total.add(store_batch(mailstore, chunk, policy))
    return total
