"""Publish due posts exactly once: a pending row before the call, reconciliation after any doubt.

A post row moves held -> queued -> pending -> confirmed (see migrations/004); each network has
its own row per question (migrations/011), its own caps, rate-limit block and suspension, so a
failure on one never blocks or repeats another. A post whose outcome is unknown (timeout, 5xx,
reset, a crash) is looked up on the network before it is ever sent again: X by the link among
the account's posts (X has no idempotency key), Mastodon the same (its Idempotency-Key also
makes a resend within the hour harmless), Bluesky by reading the question's record key.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

import structlog

from bridge.compose.post import Draft
from bridge.decide.caps import PublishSettings, Slot, plan_slot, price_of
from bridge.decide.planner import Plan
from bridge.errors import (
    AuthError,
    BridgeError,
    DuplicatePost,
    PermanentError,
    RateLimited,
    TransientError,
    is_ambiguous,
)
from bridge.model import Outgoing
from bridge.store import posts as rows
from bridge.store.db import Store, from_epoch, to_epoch
from bridge.store.mail import MailStore
from bridge.store.posts import Candidate, PostRow, posted_roots, posting_state, posts_today, spend_this_month

RECONCILE_SLACK = timedelta(minutes=10)  # clock skew between us and X
DUPLICATE_LOOKBACK = timedelta(days=7)  # X refused "duplicate content": search this far back
RATE_LIMIT_FALLBACK = timedelta(minutes=15)  # a 429 without a reset header: X's window length
RATE_LIMIT_PAST_RESET = timedelta(seconds=30)  # a 429 whose reset time has already passed
SURPRISE_SLACK = timedelta(minutes=30)  # stored this long after its due time: it came as a surprise
RETRY_DELAY = timedelta(minutes=5)  # after a failure that surely did not post (connect refused)
HOLD_ALL_REASON = "approval = all: every post waits for a moderator"

log = structlog.get_logger(__name__)

__all__ = [  # the status functions live in postrows; callers import them from here
    "PublishReport", "Publisher", "ReconcileReport", "posted_roots", "posting_state", "posts_today",
    "publish_due", "reconcile_pending", "release_held", "resume_posting",
    "spend_this_month",
]


class Publisher(Protocol):
    """One network account the bridge posts to."""

    def publish(self, text: str) -> str:
        """Post `text`; the new post's id. Raises the adapter's errors (see bridge.adapters.x_client)."""
        ...

    def find_post(self, link: str, since: datetime) -> str | None:
        """The id of this account's post carrying `link`, posted since `since`; None if none."""
        ...

    def check_auth(self) -> str:
        """Prove the credentials work (X: GET /2/users/me); the account's name. Raises AuthError."""
        ...


class Poster(Protocol):
    """A network account that takes the whole post (see bridge.stages.network.Network)."""

    def publish(self, post: Outgoing) -> str: ...

    def find_post(self, post: Outgoing, since: datetime) -> str | None: ...

    def check_auth(self) -> str: ...


@dataclass(frozen=True)
class Target:
    """Where publish_due posts: a network's name, its account, and (for networks other than the
    one the plans were drafted for) how to draft the text again within its own limit."""

    name: str
    poster: Poster
    redraft: Callable[[Plan], Draft | None] | None = None
    label: str = ""

    @property
    def shown(self) -> str:
        return self.label or {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky"}.get(
            self.name, self.name)


class _TextPoster:
    """X's Publisher (text in, link to find) seen as a Poster."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner

    def publish(self, post: Outgoing) -> str:
        return self.inner.publish(post.text)

    def find_post(self, post: Outgoing, since: datetime) -> str | None:
        return self.inner.find_post(post.link, since)

    def check_auth(self) -> str:
        return self.inner.check_auth()


def as_target(publisher: Publisher | Target) -> Target:
    """X's Publisher becomes the "x" target; a Target stays as it is."""
    return publisher if isinstance(publisher, Target) else Target(rows.NETWORK, _TextPoster(publisher))


@dataclass
class PublishReport:
    """What one publish_due call did; `blocked`/`next_attempt_at` say why and until when it stopped."""

    published: list[tuple[str, str]] = field(default_factory=list)  # (root_id, post_id)
    dry_run: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # outcome unknown: reconciled later
    queued: list[str] = field(default_factory=list)  # surely not posted: tried again later
    failed: list[tuple[str, str]] = field(default_factory=list)  # (root_id, reason)
    next_attempt_at: datetime | None = None
    blocked: str = ""
    suspended: str = ""
    network: str = ""
    errors: int = 0  # calls the network failed or refused (not 429s)
    rate_limited: int = 0  # 429s: the network's reset scheduled the next attempt
    reconciled: int = 0  # pending posts found on the network before this round

    def add_reconcile(self, done: ReconcileReport) -> PublishReport:
        """Fold in the reconciliation that ran before this round (for the metrics)."""
        self.reconciled += len(done.confirmed)
        self.errors += done.errors
        self.rate_limited += done.rate_limited
        return self


@dataclass
class ReconcileReport:
    confirmed: list[tuple[str, str]] = field(default_factory=list)  # (root_id, post_id)
    requeued: list[str] = field(default_factory=list)  # not on X after the window: send again
    waiting: list[str] = field(default_factory=list)  # not found yet, or X could not be asked
    suspended: str = ""
    errors: int = 0  # lookups the network failed (not 429s)
    rate_limited: int = 0


def publish_due(
    store: Store, plans: Sequence[Plan], publisher: Publisher | Target, settings: PublishSettings,
    now: datetime, *, hold_all: bool = False,
) -> PublishReport:
    """Post released (queued) rows, then due plans, within the caps; hold a mass of new ones,
    or (`hold_all`: [moderation] approval = "all") every new one, for a moderator."""
    _require_autocommit(store)
    target = as_target(publisher)
    report = PublishReport(network=target.name)
    if _gate_closed(store, target.name, now, report):
        return report
    new = _new_candidates(store, plans, target, settings, now, report)
    if hold_all and new:
        report.held.extend(rows.hold(store, new, HOLD_ALL_REASON, now))
        log.info("posts_held", count=len(new), reason=HOLD_ALL_REASON)
        new = []
    candidates = rows.queued_candidates(store, now, target.name) + new
    for candidate in candidates:
        slot = _slot(store, candidate, now, settings)
        if slot.at > now:
            report.next_attempt_at, report.blocked = slot.at, slot.reason
            log.info("post_deferred", network=target.name, root=candidate.root_id,
                     until=slot.at.isoformat(), reason=slot.reason)
            break
        if settings.dry_run:
            rows.record_dry_run(store, candidate, now)
            report.dry_run.append(candidate.root_id)
            log.info("post_dry_run", network=target.name, root=candidate.root_id,
                     text=candidate.text)
            continue
        if not _send(store, target, candidate, now, report):
            break
    log.info("posts_published", network=target.name, published=len(report.published),
             dry_run=len(report.dry_run),
             held=len(report.held), pending=len(report.pending), queued=len(report.queued),
             failed=len(report.failed), blocked=report.blocked, suspended=report.suspended)
    return report


def reconcile_pending(
    store: Store, publisher: Publisher | Target, settings: PublishSettings, now: datetime
) -> ReconcileReport:
    """Settle every pending row due a check: found on X -> confirmed; still absent once the
    reconcile window since its last call has passed -> queued, and publish_due sends it again
    (same text) within the caps. Call it before publish_due in each cycle and at start."""
    _require_autocommit(store)
    target = as_target(publisher)
    report = ReconcileReport()
    state = rows.posting_state(store, target.name)
    if state.suspended_reason or settings.dry_run:
        report.suspended = state.suspended_reason
        return report
    for row in rows.pending_rows(store, now, target.name):
        if not _reconcile_row(store, target, row, settings, now, report):
            break
    if report.confirmed or report.requeued or report.waiting:
        log.info("posts_reconciled", confirmed=len(report.confirmed),
                 requeued=len(report.requeued), waiting=len(report.waiting))
    return report


def release_held(
    store: Store, root_ids: Collection[str] | Literal["all"], now: datetime
) -> list[str]:
    """The admin's release of held posts: they become queued and go out within the caps."""
    if isinstance(root_ids, str) and root_ids != "all":
        root_ids = [root_ids]  # one id, not its characters
    released = rows.release_held(store, None if root_ids == "all" else list(root_ids), now)
    for root in released:
        log.info("post_released", root=root)
    return released


def resume_posting(store: Store, publisher: Publisher | Target, now: datetime) -> bool:
    """Lift an auth suspension once the credentials work again (the daemon calls it at start)."""
    target = as_target(publisher)
    state = rows.posting_state(store, target.name)
    if not state.suspended_reason:
        return True
    try:
        account = target.poster.check_auth()
    except BridgeError as exc:
        log.error("posting_still_suspended", network=target.name, reason=state.suspended_reason,
                  error=str(exc))
        return False
    rows.set_suspended(store, "", now, target.name)
    log.info("posting_resumed", network=target.name, account=account)
    return True


def _require_autocommit(store: Store) -> None:
    # The pending row must be durable before the call: an outer transaction would defer it.
    if store.conn.in_transaction:
        raise RuntimeError("publishing must not run inside an open transaction")


def _gate_closed(store: Store, network: str, now: datetime, report: PublishReport) -> bool:
    state = rows.posting_state(store, network)
    if state.suspended_reason:
        report.suspended = state.suspended_reason
        log.error("posting_suspended", network=network, reason=state.suspended_reason)
        return True
    if state.blocked_until and now < from_epoch(state.blocked_until):
        report.next_attempt_at = from_epoch(state.blocked_until)
        report.blocked = state.blocked_reason
        return True
    return False


def _new_candidates(
    store: Store, plans: Sequence[Plan], target: Target, settings: PublishSettings, now: datetime,
    report: PublishReport,
) -> list[Candidate]:
    """Due plans without a row on this network. The mass-new guard holds them when more than the
    threshold are surprises: questions the bridge learned of only after they were already due (a
    mailbox resync, a new folder, a backfill). A backlog it saw coming (quiet hours, caps) is no
    surprise."""
    known = rows.network_roots(store, target.name)
    held = [c for c in (_candidate(p, target) for p in plans
                        if p.held and p.draft is not None and p.draft.root_id not in known) if c]
    _hold_for_moderation(store, held, plans, now, report)
    due = [p for p in plans if p.due and p.draft is not None and p.draft.root_id not in known]
    new = [c for c in (_candidate(p, target) for p in due) if c is not None]
    threshold = settings.mass_new_threshold
    surprises = _surprises(store, due)
    if threshold and len(surprises) > threshold:
        held = [c for c in new if c.root_id in surprises]
        reason = (f"mass-new guard: {len(held)} threads were already due when they arrived "
                  f"(threshold {threshold}); release to post")
        report.held.extend(rows.hold(store, held, reason, now))
        log.warning("posts_held", network=target.name, count=len(report.held), threshold=threshold)
        return [c for c in new if c.root_id not in surprises]
    return new


def _candidate(plan: Plan, target: Target) -> Candidate | None:
    """The plan's post for this network: the plan's own draft, or one drafted to its limit."""
    draft = plan.draft if target.redraft is None else target.redraft(plan)
    if draft is None:
        log.warning("post_not_drafted", network=target.name, root=plan.thread.root.message_id)
        return None
    return Candidate(draft.root_id, plan.thread.thread_id, draft.text, draft.link, False,
                     target.name)


def moderation_reason(plan: Plan) -> str:
    """The reason a held question's row carries: "moderation: " and the evidence that fired."""
    return f"moderation: {', '.join(plan.evidence) or plan.reason}"


def _hold_for_moderation(store: Store, candidates: Sequence[Candidate], plans: Sequence[Plan],
                         now: datetime, report: PublishReport) -> None:
    """Doubtful questions (outcome "hold") become held rows: a moderator releases or rejects."""
    by_root = {p.thread.root.message_id: p for p in plans}
    for candidate in candidates:
        plan = by_root.get(candidate.root_id)
        reason = moderation_reason(plan) if plan is not None else "moderation"
        report.held.extend(rows.hold(store, [candidate], reason, now))
    if candidates:
        log.info("posts_held", count=len(candidates), reason="moderation")


def _surprises(store: Store, plans: Sequence[Plan]) -> set[str]:
    """Roots first stored after (or unknown until) their due time, with a cycle's slack."""
    found: set[str] = set()
    for plan in plans:
        stored_at = MailStore(store).ingested_at(plan.thread.root.message_id)
        due_at = plan.decision.due_at
        if stored_at is None or due_at is None or stored_at > due_at + SURPRISE_SLACK:
            found.add(plan.thread.root.message_id)
    return found


def _slot(store: Store, candidate: Candidate, now: datetime, settings: PublishSettings) -> Slot:
    network = candidate.network
    history = rows.slot_history(store, now - timedelta(days=3), settings.dry_run, network)
    spent = rows.month_spend(store, now, settings, settings.dry_run, network)
    return plan_slot(history, spent, price_of(candidate.link, settings), now, settings)


def _outgoing(candidate: Candidate, now: datetime) -> Outgoing:
    """The post as the network adapter takes it; created_at is the row's (seconds), so a record
    key derived from it is the same at every attempt."""
    created = from_epoch(candidate.created_at if candidate.created_at else to_epoch(now))
    return Outgoing(candidate.root_id, candidate.network, candidate.text, candidate.link,
                    created_at=created)


def _send(
    store: Store, target: Target, candidate: Candidate, now: datetime, report: PublishReport
) -> bool:
    """Pending row (committed) -> the call -> confirmed. False: stop posting this cycle."""
    root, net = candidate.root_id, target.name
    rows.mark_pending(store, candidate, now)
    try:
        post_id = target.poster.publish(_outgoing(candidate, now))
    except RateLimited as exc:
        report.rate_limited += 1
        until = _rate_limit_until(exc, now)
        why = f"rate limited by {target.shown}"
        rows.requeue(store, root, until, str(exc), net)
        rows.set_blocked(store, until, why, now, net)
        report.queued.append(root)
        report.next_attempt_at, report.blocked = until, why
        log.warning("post_rate_limited", network=net, root=root, until=until.isoformat())
        return False
    except DuplicatePost as exc:
        return _settle_duplicate(store, target, candidate, str(exc), now, report)
    except AuthError as exc:
        report.errors += 1
        rows.requeue(store, root, now, str(exc), net)
        report.queued.append(root)
        report.suspended = _suspend(store, net, str(exc), now)
        return False
    except PermanentError as exc:
        report.errors += 1
        rows.fail(store, root, str(exc), net)
        report.failed.append((root, str(exc)))
        log.error("post_refused", network=net, root=root, error=str(exc))
        return True
    except TransientError as exc:
        report.errors += 1
        _after_transient(store, candidate, exc, now, report)
        return False
    rows.confirm(store, root, post_id, now, net)
    report.published.append((root, post_id))
    log.info("post_published", network=net, post_id=post_id, root=root)
    return True


def _after_transient(
    store: Store, candidate: Candidate, exc: TransientError, now: datetime, report: PublishReport
) -> None:
    root, net = candidate.root_id, candidate.network
    if is_ambiguous(exc):  # the one rule (bridge.errors)
        rows.note_error(store, root, now, str(exc), net)
        report.pending.append(root)
        log.warning("post_outcome_unknown", network=net, root=root, error=str(exc))
        return
    rows.requeue(store, root, now + RETRY_DELAY, str(exc), net)
    report.queued.append(root)
    log.warning("post_not_sent", network=net, root=root, error=str(exc))


def _settle_duplicate(
    store: Store, target: Target, candidate: Candidate, error: str, now: datetime,
    report: PublishReport,
) -> bool:
    """X says this text is already posted: find that post; the text is never altered."""
    root, net = candidate.root_id, target.name
    try:
        found = target.poster.find_post(_outgoing(candidate, now), now - DUPLICATE_LOOKBACK)
    except BridgeError as exc:  # stays pending: reconciliation looks again
        rows.note_error(store, root, now, f"{error}; lookup failed: {exc}", net)
        report.pending.append(root)
        if isinstance(exc, AuthError):
            report.suspended = _suspend(store, net, str(exc), now)
        return False
    if found is None:
        reason = f"{error}; no post with this link found on the account"
        rows.fail(store, root, reason, net)
        report.failed.append((root, reason))
        log.error("post_duplicate_unmatched", network=net, root=root)
        return True
    rows.confirm(store, root, found, now, net)
    report.published.append((root, found))
    log.info("post_duplicate_reconciled", network=net, post_id=found, root=root)
    return True


def _reconcile_row(
    store: Store, target: Target, row: PostRow, settings: PublishSettings, now: datetime,
    report: ReconcileReport,
) -> bool:
    """One pending row; False stops this round (the network is failing or posting is suspended)."""
    net = target.name
    post = Outgoing(row.root_id, net, row.text, row.link, created_at=from_epoch(row.created_at))
    try:
        found = target.poster.find_post(post, from_epoch(row.created_at) - RECONCILE_SLACK)
    except AuthError as exc:
        report.errors += 1
        report.suspended = _suspend(store, net, str(exc), now)
        return False
    except (TransientError, PermanentError) as exc:
        reset = exc.reset_at if isinstance(exc, RateLimited) else None
        if isinstance(exc, RateLimited):
            report.rate_limited += 1
        else:
            report.errors += 1
        later = reset if reset is not None else now + RETRY_DELAY
        rows.defer(store, row.root_id, max(later, now), net)
        report.waiting.append(row.root_id)
        log.warning("post_reconcile_failed", network=net, root=row.root_id, error=str(exc))
        return False
    if found is not None:
        rows.confirm(store, row.root_id, found, now, net)
        report.confirmed.append((row.root_id, found))
        log.info("post_reconciled", network=net, post_id=found, root=row.root_id)
        return True
    window_end = from_epoch(row.attempted_at) + settings.reconcile_window
    if now >= window_end or _resend_is_safe(target, row, now):
        rows.requeue(store, row.root_id, now,
                     f"not found on {target.shown} after an unconfirmed attempt", net)
        report.requeued.append(row.root_id)
        log.warning("post_not_found_requeued", network=net, root=row.root_id,
                    attempts=row.attempts)
    else:
        rows.defer(store, row.root_id, window_end, net)
        report.waiting.append(row.root_id)
    return True


def _resend_is_safe(target: Target, row: PostRow, now: datetime) -> bool:
    """Not found, and the network itself refuses a second post for this question (Bluesky's
    record key; Mastodon's Idempotency-Key within its hour): send again now, not after the
    reconcile window. X has no such guard: it waits the window."""
    check = getattr(target.poster, "resend_is_safe", None)
    return bool(check(from_epoch(row.attempted_at), now)) if check is not None else False


def _rate_limit_until(exc: RateLimited, now: datetime) -> datetime:
    """When to post again after a 429: the network's reset; a reset already past (clock skew, or
    the window just turned) means soon; no reset header at all means X's whole window."""
    reset_at = exc.reset_at
    if reset_at is None:
        return now + RATE_LIMIT_FALLBACK
    return reset_at if reset_at > now else now + RATE_LIMIT_PAST_RESET


def _suspend(store: Store, network: str, error: str, now: datetime) -> str:
    reason = f"posting suspended: auth failed: {error}"
    rows.set_suspended(store, reason, now, network)
    log.error("posting_suspended", network=network, reason=reason,
              hint=f"fix the [{network}] credentials and restart; other stages keep running")
    return reason
