"""The orchestrator: one cycle runs the stages in order (ingest, publish, replies, relay), each
behind its own exception boundary, and says when the next cycle is needed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from bridge.config.settings import Config
from bridge.decide.history import WINDOW as HISTORY_WINDOW
from bridge.decide.history import History
from bridge.decide.planner import Drafter, Plan, plan_threads
from bridge.errors import BridgeError, TransientError
from bridge.mail.echo import EchoSettings
from bridge.model import ThreadView
from bridge.redact import redact
from bridge.service.ingest_policy import build_ingest_policy, relay_echo
from bridge.service.metrics import MetricsSink, NullMetrics
from bridge.service.networks import (
    NetworkService,
    network_times,
    poll_networks,
    publish_networks,
    queued_now,
)
from bridge.stages.approval import next_wake as approval_wake
from bridge.stages.approval import run_approval
from bridge.stages.ingest import IngestPolicy, IngestReport, MailSource, store_batch
from bridge.stages.publish import Publisher, PublishReport, publish_due, reconcile_pending
from bridge.stages.relay import MailSender, relay_approved
from bridge.stages.replies import (
    PollReport,
    ReplySource,
    next_poll_at,
    poll_replies,
    posts_in_window,
)
from bridge.store import posts as postrows
from bridge.store import relays, state
from bridge.store.db import Store
from bridge.store.mail import MailStore

log = structlog.get_logger()

STAGES = ("ingest", "publish", "replies", "approval", "relay")
MAX_SLEEP = timedelta(minutes=15)  # re-check at least this often, whatever is scheduled
ANSWER_POLL = timedelta(minutes=2)  # approval_folder is polled this often while requests are open
MIN_SLEEP = timedelta(seconds=1)  # never spin: even "due now" waits this long (or for mail)


@dataclass
class Services:
    """The outside world, built from config by the CLI; None where a stage is not configured."""

    mailbox: MailSource | None = None
    publisher: Publisher | None = None
    reply_source: ReplySource | None = None
    sender: MailSender | None = None
    approval_mailbox: MailSource | None = None  # [moderation] approval_folder: answers only
    networks: list[NetworkService] = field(default_factory=list)  # Mastodon, Bluesky


def network_names(services: Services) -> tuple[str, ...]:
    """The configured networks: x (when [x] is), then the others in their configured order."""
    own = ("x",) if services.publisher is not None else ()
    return (*own, *(n.name for n in services.networks))


@dataclass
class NetworkCounts:
    """One network in one cycle, for the metrics."""

    published: int = 0  # posts confirmed (sent, or found on the network after a doubt)
    replies: int = 0  # new replies stored
    relayed: int = 0  # replies carried to the list by relays sent
    errors: int = 0  # calls that failed or were refused (not 429s)
    rate_limited: int = 0  # 429s: the reset schedules the next attempt


@dataclass
class CycleReport:
    ingested: int = 0
    published: int = 0
    replies: int = 0
    relayed: int = 0
    problems: int = 0  # messages recorded as problems
    relay_failures: int = 0  # relay sends that failed (retried later, or given up)
    errors: dict[str, str] = field(default_factory=dict)
    next_wake: datetime | None = None
    networks: dict[str, NetworkCounts] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def network(self, name: str) -> NetworkCounts:
        return self.networks.setdefault(name, NetworkCounts())

    def count_publish(self, done: PublishReport) -> None:
        counts = self.network(done.network)
        counts.published += len(done.published) + done.reconciled
        counts.errors += done.errors
        counts.rate_limited += done.rate_limited

    def count_poll(self, network: str, done: PollReport) -> None:
        counts = self.network(network)
        counts.replies += sum(done.stored.values())
        counts.errors += done.outcome == "failed"
        counts.rate_limited += done.outcome == "rate_limited"


class Bridge:
    """Runs cycles over one store with one set of services."""

    def __init__(self, config: Config, store: Store, services: Services,
                 clock: Callable[[], float] = time.monotonic,
                 metrics: MetricsSink | None = None,
                 progress: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.store = store
        self.services = services
        self.mailstore = MailStore(store, subject_window=config.ingest.subject_window)
        self.drafter = Drafter(config.compose, config.links)
        self.clock = clock
        self.metrics: MetricsSink = metrics or NullMetrics()
        self.progress = progress  # told as each stage begins and each batch is stored (watchdog)
        # The matcher's incremental state: threads touched by new mail, and waiting threads with
        # their due time. Only those are planned again; the first cycle plans every active thread.
        self._touched: set[int] = set()
        self._waiting: dict[int, datetime] | None = None  # None: not planned yet (full pass due)
        self._publish_after: datetime | None = None  # retry or periodic check of queued rows
        self._blocked_until: datetime | None = None  # the last publish stopped until then
        self._me_id: str | None = None
        self._echo: EchoSettings | None = None

    def policy(self, now: datetime) -> IngestPolicy:
        return build_ingest_policy(self.config, self._echo_settings(),
                                   body_since=now - self.config.ingest.body_window, now=now)

    def _echo_settings(self) -> EchoSettings | None:
        """The relay token key and addresses, read once per Bridge (a {command} secret runs once;
        a SIGHUP builds a new Bridge)."""
        if self._echo is None:
            self._echo = relay_echo(self.config, self.store)
        return self._echo

    def cycle(self, now: datetime, skip: frozenset[str] = frozenset()) -> CycleReport:
        """One pass of every stage (but `skip`); a failing stage is logged and recorded, the others
        still run."""
        report = CycleReport()
        started = self.clock()
        for stage, run in (("ingest", self._ingest), ("publish", self._publish),
                           ("replies", self._replies), ("approval", self._approval),
                           ("relay", self._relay)):
            if stage in skip:
                continue
            self.progress()
            try:
                run(now, report)
            except Exception as exc:  # the exception boundary of one stage
                report.errors[stage] = f"{type(exc).__name__}: {exc}"
                # a BridgeError is a known failure (IMAP down, X refusing); anything else is a
                # bug, and the traceback is what finds it
                log.error("stage_failed", stage=stage, error=report.errors[stage],
                          transient=isinstance(exc, TransientError),
                          exc_info=not isinstance(exc, BridgeError))
        report.next_wake = self._next_wake(now)
        self._record(report, now)  # one transaction for the cycle's bookkeeping
        self._report_metrics(report, now, self.clock() - started)
        log.info("cycle_finished", ingested=report.ingested, published=report.published,
                 replies=report.replies, relayed=report.relayed, errors=len(report.errors),
                 seconds=round(self.clock() - started, 4), next_wake=report.next_wake.isoformat())
        return report

    # -- stages ------------------------------------------------------------------------------
    def _ingest(self, now: datetime, report: CycleReport) -> None:
        mailbox = self.services.mailbox
        if mailbox is None:
            return
        total = IngestReport()
        policy = self.policy(now)
        cursor = self.store.get_cursor(mailbox.folder)
        for batch in mailbox.fetch_new(cursor):
            total.add(store_batch(self.mailstore, batch.mails, policy, batch.cursor, batch.oversized))
            self.progress()  # a first backfill can take long: each batch is progress
        answers = self.services.approval_mailbox
        if answers is not None:
            only = replace(policy, answers_only=True)
            for batch in answers.fetch_new(self.store.get_cursor(answers.folder)):
                total.add(store_batch(self.mailstore, batch.mails, only, batch.cursor, batch.oversized))
        report.ingested, report.problems = total.stored, total.problems
        self._touched |= total.threads
        if total.stored:
            log.info("mail_ingested", **total.as_dict())

    def _network_names(self) -> tuple[str, ...]:
        return network_names(self.services)

    def _publish(self, now: datetime, report: CycleReport) -> None:
        publisher, networks = self.services.publisher, self.services.networks
        if publisher is None and not networks:
            return
        settings = self.config.publish
        if publisher is not None:
            done = reconcile_pending(self.store, publisher, settings, now)
            report.count_publish(PublishReport(network="x").add_reconcile(done))
        threads = self._threads_to_plan(now)
        _, queued_at = postrows.next_attempts(self.store)
        if threads is None and (queued_at is None or queued_at > now) and not queued_now(
                self.store, networks, now):
            return  # nothing new, nothing falls due, nothing to send: matching would change nothing
        if threads:
            self.drafter.other_names = self.mailstore.author_names()
        # the list's recent history (not only the threads that changed): reposts, senders, languages
        plans = plan_threads(threads, now, self.config.matcher, self.drafter,
                             postrows.posted_roots(self.store, self._network_names()),
                             self._history(now)) if threads else []
        results = [publish_due(self.store, plans, publisher, settings, now,
                               hold_all=self.config.approval.hold_all)] if publisher else []
        results += publish_networks(self.store, networks, plans, self.config.compose,
                                    self.drafter, now, hold_all=self.config.approval.hold_all)
        report.published = sum(len(r.published) + len(r.dry_run) for r in results)
        for result in results:
            report.count_publish(result)
        next_at = min((r.next_attempt_at for r in results if r.next_attempt_at), default=None)
        self._keep_waiting(plans, next_at or now)
        self._touched = set()
        self._blocked_until = next_at
        self._publish_after = min(filter(None, (next_at, now + MAX_SLEEP)))

    def _keep_waiting(self, plans: list[Plan], retry_at: datetime) -> None:
        """Waiting plans wait for their due time; a due plan that publishing did not settle (the
        spacing, a 429 or a failure stopped it before its turn) is planned again at `retry_at`."""
        waiting = self._waiting if self._waiting is not None else {}
        settled = postrows.posted_roots(self.store, self._network_names())
        for plan in plans:
            tid = plan.thread.thread_id
            waiting.pop(tid, None)
            if plan.waiting and plan.decision.due_at is not None:
                waiting[tid] = plan.decision.due_at
            elif plan.due and plan.draft is not None and plan.draft.root_id not in settled:
                waiting[tid] = retry_at
        self._waiting = waiting

    def _history(self, now: datetime) -> History:
        return History(self.mailstore.threads(active_since=now - HISTORY_WINDOW))

    def _threads_to_plan(self, now: datetime) -> list[ThreadView] | None:
        """Which threads to decide now: all active ones once, then only what changed or fell due."""
        if self._waiting is None:
            return list(self.mailstore.threads(active_since=now - self.config.matcher.max_age))
        due = {tid for tid, at in self._waiting.items() if at <= now}
        retry = self._publish_after is not None and now >= self._publish_after
        if not (self._touched or due or retry):
            return None
        views = (self.mailstore.thread(tid) for tid in sorted(self._touched | due))
        return [v for v in views if v is not None]

    def _replies(self, now: datetime, report: CycleReport) -> None:
        for name, done in poll_networks(self.store, self.services.networks, self.config.replies,
                                        self.config.moderation, now).items():
            report.count_poll(name, done)
            report.replies += sum(done.stored.values())
        source, publisher = self.services.reply_source, self.services.publisher
        if source is None or publisher is None:
            return
        if self._me_id is None:
            self._me_id = self._account_id()
        try:
            poll = poll_replies(self.store, source, self._me_id, self.config.replies,
                                self.config.moderation, now)
        except BridgeError:
            report.network("x").errors += 1
            raise
        report.count_poll("x", poll)
        report.replies += sum(poll.stored.values())

    def _account_id(self) -> str:
        source = self.services.reply_source
        if source is None:
            raise TransientError("no reply source configured")
        return source.account_id()

    def _approval(self, now: datetime, report: CycleReport) -> None:
        """Moderators' answers (stored by ingest), expiry, and request emails for held items."""
        if not self.config.approval.enabled:
            return
        echo = self._echo_settings()  # approval needs [relay], so the key is there
        key = echo.key if echo is not None else b""
        result = run_approval(self.store, self.services.sender, self.config.approval,
                              self.config.relay, key, now)
        if result.released:  # approved posts are queued: publish them in the next cycle
            self._publish_after = now

    def _relay(self, now: datetime, report: CycleReport) -> None:
        if self.services.sender is None or self.config.relay is None:
            return
        echo = self._echo_settings()
        result = relay_approved(self.store, self.services.sender, self.config.relay, now,
                                key=echo.key if echo is not None else None)
        report.relayed, report.relay_failures = result.sent, result.deferred + len(result.failed)
        for network, count in result.relayed.items():
            report.network(network).relayed += count

    # -- bookkeeping -------------------------------------------------------------------------
    def _next_wake(self, now: datetime) -> datetime:
        times = [now + MAX_SLEEP]
        if self.services.publisher is not None or self.services.networks:
            times += self._publish_times()
        times += network_times(self.store, self.services.networks, self.config.replies, now)
        if self.services.reply_source is not None and posts_in_window(
                self.store, self.config.replies.reply_window, now):
            due, _ = next_poll_at(self.store.conn, self.config.replies, now)
            times.append(due)
        if self.config.approval.enabled and (approval := approval_wake(self.store)) is not None:
            times.append(approval)
            if self.services.approval_mailbox is not None:  # no IDLE there: look for answers
                times.append(now + ANSWER_POLL)
        relay_at = relays.next_attempt(self.store)
        if relay_at is not None and self.services.sender is not None:
            times.append(relay_at.astimezone(now.tzinfo))
        return max(now + MIN_SLEEP, min(times))

    def _publish_times(self) -> list[datetime]:
        """When publishing has work: a waiting thread falls due, a pending post is checked on X,
        a queued post may go (not before the block the last attempt hit), the periodic re-check."""
        if postrows.posting_state(self.store).suspended_reason:
            return []  # nothing goes out before a restart with working credentials
        pending_at, queued_at = postrows.next_attempts(self.store)
        if queued_at is not None and self._blocked_until is not None:
            queued_at = max(queued_at, self._blocked_until)
        return [t for t in (self._publish_after, pending_at, queued_at,
                            *(self._waiting or {}).values()) if t is not None]

    def _report_metrics(self, report: CycleReport, now: datetime, seconds: float) -> None:
        sink = self.metrics
        sink.observe_cycle(seconds)
        sink.ingested(report.ingested)
        for network, counts in report.networks.items():
            sink.published(network, counts.published)
            sink.replies_fetched(network, counts.replies)
            sink.replies_relayed(network, counts.relayed)
            sink.network_errors(network, counts.errors)
            sink.rate_limited(network, counts.rate_limited)
        sink.relays_sent(report.relayed)
        sink.problems(report.problems)
        sink.relay_failed(report.relay_failures)
        sink.set_posts_held(self.store.count_status("posts", "held"))
        sink.set_replies_held(self.store.count_status("replies", "held"))
        for stage in STAGES:
            if stage in report.errors:
                sink.stage_failed(stage)
            else:
                sink.stage_succeeded(stage, now)

    def _record(self, report: CycleReport, now: datetime) -> None:
        errors = {stage: redact(error) for stage, error in report.errors.items()}
        next_due = min(self._waiting.values()) if self._waiting else None
        state.record_cycle(self.store, STAGES, errors, now, next_due)
