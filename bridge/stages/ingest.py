"""The ingest stage: raw mail in batches -> parsed, threaded, stored; problems recorded, never fatal.

Each batch is one transaction: its messages, its problems and the source cursor commit together,
so a crash at any point re-reads at most one batch, and the Message-ID dedupes it.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.pool
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.pool import AsyncResult
from typing import Protocol

import structlog

from bridge.decide.approval import Answer, is_approval_mail, read_answer
from bridge.mail.echo import EchoSettings
from bridge.mail.headers import scrub_text
from bridge.mail.parse import MailParseError, ParseOptions, parse_mail
from bridge.model import Cursor, FetchBatch, Flag, Mail, Problem, RawMail
from bridge.store import approvals
from bridge.store.mail import MailStore

log = structlog.get_logger()
PARALLEL_CHUNK = 128  # messages per job sent to a parser process: amortises the hand-over cost
IN_FLIGHT_PER_WORKER = 4  # jobs queued per parser process: enough to keep it busy, no more
# Memory is bounded by bytes, not by count: a batch of archive messages holds about this much,
# a parser job about the second (so the in-flight window holds at most workers x 4 x 4 MB).
BATCH_BYTES = 16 << 20
PARALLEL_CHUNK_BYTES = 4 << 20


class MailSource(Protocol):
    """A folder of list mail read in batches after a cursor (bridge.adapters.imap.ImapMailbox)."""

    folder: str

    def connect(self) -> int:
        """Log in and select the folder; its UIDVALIDITY."""
        ...

    def fetch_new(self, cursor: Cursor | None) -> Iterator[FetchBatch]: ...

    def wait_for_mail(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True when new mail may have arrived."""
        ...

    def close(self) -> None: ...


@dataclass(slots=True)
class IngestReport:
    """What one pass did; the closing summary an admin reads."""

    seen: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped_list: int = 0  # from another list than the configured List-Id
    problems: int = 0
    approval_answers: int = 0  # answers to approval requests: for the approval stage, not the list
    threads: set[int] = field(default_factory=set)

    def add(self, other: IngestReport) -> None:
        self.seen += other.seen
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.skipped_list += other.skipped_list
        self.problems += other.problems
        self.approval_answers += other.approval_answers
        self.threads |= other.threads

    def as_dict(self) -> dict[str, int]:
        return {
            "messages_seen": self.seen,
            "messages_stored": self.stored,
            "duplicates": self.duplicates,
            "other_list": self.skipped_list,
            "problems": self.problems,
            "approval_answers": self.approval_answers,
            "threads_touched": len(self.threads),
        }


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """Choices fixed for a pass: whose bodies to parse, which list to keep."""

    body_since: datetime | None = None  # parse bodies of mail dated at/after this; None = all
    list_id: str = ""  # keep only this List-Id ("" = keep all)
    list_addresses: frozenset[str] = frozenset()
    echo: EchoSettings | None = None  # recognise our own relays coming back through the list
    now: datetime | None = None  # when answers to approval requests are received (None: the clock)
    answers_only: bool = False  # a folder of its own for approval answers: nothing else is stored


def parse_raw(raw: RawMail, policy: IngestPolicy) -> list[Mail]:
    """Parse one raw message; bodies only for mail recent enough to matter (MailParseError)."""
    if raw.problem is not None:
        raise MailParseError(raw.problem)
    options = ParseOptions(
        body_since=policy.body_since, fallback_date=raw.internal_date,
        list_addresses=policy.list_addresses, echo=policy.echo,
    )
    mails = parse_mail(raw.data, options)
    if raw.size > len(raw.data):  # only the head was read: the size is the whole message's
        mails = [replace(m, size=raw.size) for m in mails]
    return mails


@dataclass(frozen=True, slots=True)
class Parsed:
    """One raw message after parsing: its mails, or why it could not be parsed."""

    source: str
    size: int
    mails: tuple[Mail, ...] = ()
    problem: str | None = None
    answers: tuple[Answer, ...] = ()  # the message answers an approval request: not list mail


def parse_one(raw: RawMail, policy: IngestPolicy) -> Parsed:
    """Parse without raising: a bad message becomes a Parsed with its problem."""
    size = raw.size or len(raw.data)
    try:
        mails = tuple(parse_raw(raw, policy))
        if len(mails) == 1 and is_approval_mail(mails[0]):
            answer = read_answer(raw.data)
            answer = replace(answer, message_id=mails[0].message_id)  # the parser's safe identity
            return Parsed(raw.source, size, answers=(answer,))
        return Parsed(raw.source, size, () if policy.answers_only else mails)
    except Exception as exc:  # one bad message must never stop a pass
        reason = str(exc) if isinstance(exc, MailParseError) else f"{type(exc).__name__}: {exc}"
        return Parsed(raw.source, size, problem=reason)


def quiet_worker() -> None:
    """A parser process logs warnings and worse to stderr, never debug lines to stdout."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def parse_batch(job: tuple[list[RawMail], IngestPolicy]) -> list[Parsed]:
    """A worker process's unit of work (module level, so it can be sent to a process pool)."""
    raws, policy = job
    return [parse_one(raw, policy) for raw in raws]


def store_batch(
    mailstore: MailStore,
    raws: Iterable[RawMail],
    policy: IngestPolicy,
    cursor: Cursor | None = None,
    problems: Iterable[Problem] = (),
) -> IngestReport:
    """Parse one batch, then store it in one transaction with its problems and cursor: parsing
    stays outside the write transaction, which another process (the daemon, `ingest`) waits for."""
    parsed = [parse_one(raw, policy) for raw in raws]
    return store_parsed(mailstore, parsed, policy, cursor, problems)


def store_parsed(
    mailstore: MailStore,
    parsed: Iterable[Parsed],
    policy: IngestPolicy,
    cursor: Cursor | None = None,
    problems: Iterable[Problem] = (),
) -> IngestReport:
    """Store parsed messages in one transaction, with the batch's problems and its cursor."""
    report = IngestReport()
    store = mailstore.store
    with store.transaction():
        relays = mailstore.has_relays()  # once per batch: most stores have none to compare with
        for problem in problems:
            _record_problem(mailstore, problem, report, policy.now)
        for item in parsed:
            report.seen += 1
            source = scrub_text(item.source)
            if item.problem is not None:
                _record_problem(mailstore, Problem(source, item.problem, None, item.size), report, policy.now)
            for mail in item.mails:
                if mail.body_error is not None:  # stored for threading, and the reason recorded
                    _record_problem(mailstore, Problem(source, mail.body_error, mail.message_id,
                                                       item.size), report, policy.now)
                try:
                    _store_mail(mailstore, mail, source, policy, report, relays)
                except Exception as exc:  # threading or storing one message failed: skip it
                    problem = Problem(source, f"not stored: {type(exc).__name__}: {exc}",
                                      mail.message_id, item.size)
                    _record_problem(mailstore, problem, report, policy.now)
            for answer in item.answers:
                _store_answer(mailstore, answer, source, item.size, policy, report)
        mailstore.flush()
        if cursor is not None:
            store.set_cursor(cursor, policy.now)
    return report


def _store_answer(mailstore: MailStore, answer: Answer, source: str, size: int,
                  policy: IngestPolicy, report: IngestReport) -> None:
    """An answer to an approval request: kept for the approval stage, never as list mail."""
    try:
        approvals.add_answer(mailstore.store.conn, answer, policy.now or datetime.now(UTC))
    except Exception as exc:  # one hostile answer must not stop the pass
        problem = Problem(source, f"approval answer not stored: {type(exc).__name__}: {exc}",
                          answer.message_id, size)
        _record_problem(mailstore, problem, report, policy.now)
        return
    report.approval_answers += 1
    log.info("approval_answer_received", message_id=answer.message_id, sender=answer.from_address,
             verdict=answer.verdict)


def _record_problem(mailstore: MailStore, problem: Problem, report: IngestReport,
                    now: datetime | None) -> None:
    problem = Problem(scrub_text(problem.source), scrub_text(problem.reason),
                      None if problem.message_id is None else scrub_text(problem.message_id),
                      problem.size)
    mailstore.store.add_problem(problem, now)
    report.problems += 1
    log.warning("mail_skipped", source=problem.source, reason=problem.reason)


def _store_mail(
    mailstore: MailStore, mail: Mail, source: str, policy: IngestPolicy, report: IngestReport,
    relays: bool,
) -> None:
    if policy.list_id and mail.list_id and mail.list_id != policy.list_id:
        report.skipped_list += 1
        return
    if relays and Flag.OURS not in mail.flags and mailstore.is_relay_id(mail.message_id):
        mail = replace(mail, flags=mail.flags | {Flag.OURS})  # a relay we sent, by its stored id
    thread_id = mailstore.add_mail(mail, source, policy.now)
    if thread_id is None:
        report.duplicates += 1
    else:
        report.stored += 1
        report.threads.add(thread_id)


def batched(items: Iterable[RawMail], size: int, max_bytes: int = BATCH_BYTES
            ) -> Iterator[list[RawMail]]:
    """Consecutive messages, at most `size` of them and about `max_bytes` (at least one each)."""
    chunk: list[RawMail] = []
    held = 0
    for item in items:
        if chunk and (len(chunk) >= size or held + len(item.data) > max_bytes):
            yield chunk
            chunk, held = [], 0
        chunk.append(item)
        held += len(item.data)
    if chunk:
        yield chunk


def _parser_pool(workers: int) -> multiprocessing.pool.Pool:
    """Parser processes that ignore Ctrl-C from their first instruction (SIG_IGN is inherited
    through spawn's exec): the parent handles it and stops the pool, no tracebacks. Meanwhile the
    parent blocks SIGINT (a blocked signal is kept pending, not ignored): a Ctrl-C during start-up
    is raised as soon as the pool exists, not lost."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return multiprocessing.get_context("spawn").Pool(workers, initializer=quiet_worker)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def ingest_archive(
    mailstore: MailStore, raws: Iterable[RawMail], policy: IngestPolicy,
    batch_size: int = 500, workers: int = 1,
) -> IngestReport:
    """Ingest a local archive (mbox, Maildir) through the same stage as IMAP mail.

    With workers > 1, parsing runs in that many processes while this one reads and stores;
    batches are stored in archive order, so the result equals the single-process one.
    """
    total = IngestReport()
    if workers <= 1:
        for chunk in batched(raws, batch_size):
            total.add(store_batch(mailstore, chunk, policy))
        return total
    with _parser_pool(workers) as pool:
        in_flight: deque[AsyncResult[list[Parsed]]] = deque()
        pending: list[Parsed] = []
        chunks = batched(raws, PARALLEL_CHUNK, PARALLEL_CHUNK_BYTES)
        while True:
            # a bounded window of jobs: reading never runs far ahead of storing (flat memory)
            while len(in_flight) < workers * IN_FLIGHT_PER_WORKER:
                chunk = next(chunks, [])
                if not chunk:  # batched() never yields an empty chunk: this is the end
                    break
                in_flight.append(pool.apply_async(parse_batch, ((chunk, policy),)))
            if not in_flight:
                break
            pending.extend(in_flight.popleft().get())
            if len(pending) >= batch_size:
                total.add(store_parsed(mailstore, pending, policy))
                pending = []
        if pending:
            total.add(store_parsed(mailstore, pending, policy))
    return total
