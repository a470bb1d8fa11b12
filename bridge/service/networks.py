"""The networks beside X in one cycle: each posts the due plans with its own text, caps and state,
and is polled for replies; one network failing never stops another (nor X)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog

from bridge.compose.fit import composer_limit
from bridge.compose.post import ComposeSettings, Draft
from bridge.config.sections import ReplySettings
from bridge.decide.caps import PublishSettings
from bridge.decide.moderation import ModerationSettings
from bridge.decide.planner import Drafter, Plan
from bridge.errors import BridgeError
from bridge.stages.network import Network
from bridge.stages.network_replies import poll_network
from bridge.stages.publish import PublishReport, Target, publish_due, reconcile_pending
from bridge.stages.replies import PollReport, next_poll_at, posts_in_window
from bridge.store import posts as postrows
from bridge.store.db import Store

log = structlog.get_logger(__name__)


@dataclass
class NetworkService:
    """One configured network (Mastodon, Bluesky) with its [publish] settings merged in."""

    network: Network
    publish: PublishSettings
    _drafter: Drafter | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.network.name

    def target(self, compose: ComposeSettings, drafter: Drafter) -> Target:
        """The publish target: plans are drafted again within this network's own limit."""
        def redraft(plan: Plan) -> Draft | None:
            if self._drafter is None:  # asks the server once (Mastodon's instance limits)
                limit = composer_limit(self.network.text_rules())
                self._drafter = Drafter(replace(compose, max_weighted_length=limit), drafter.links)
            return self._drafter.draft(plan.thread.root)[0]

        return Target(self.name, self.network, redraft)


def publish_networks(store: Store, services: Sequence[NetworkService], plans: Sequence[Plan],
                     compose: ComposeSettings, drafter: Drafter, now: datetime, *,
                     hold_all: bool) -> list[PublishReport]:
    """Reconcile, then post the due plans on every network; a failing network is logged and
    skipped (its rows keep their state for the next cycle; its report counts the error)."""
    reports = []
    for service in services:
        target = service.target(compose, drafter)
        try:
            done = reconcile_pending(store, target, service.publish, now)
            reports.append(publish_due(store, plans, target, service.publish, now,
                                       hold_all=hold_all).add_reconcile(done))
        except BridgeError as exc:
            log.error("network_publish_failed", network=service.name, error=str(exc))
            reports.append(PublishReport(network=service.name, errors=1))
    return reports


def poll_networks(store: Store, services: Sequence[NetworkService], settings: ReplySettings,
                  moderation: ModerationSettings, now: datetime) -> dict[str, PollReport]:
    """Poll every network that is due; each network's report (a raised failure: "failed")."""
    reports = {}
    for service in services:
        try:
            reports[service.name] = poll_network(store, service.network, settings, moderation, now)
        except BridgeError as exc:
            log.error("network_replies_failed", network=service.name, error=str(exc))
            reports[service.name] = PollReport(True, f"failed: {exc}", outcome="failed")
    return reports


def network_times(store: Store, services: Sequence[NetworkService], settings: ReplySettings,
                  now: datetime) -> list[datetime]:
    """When the networks have work: a pending post to check, a queued one to send, a poll."""
    times: list[datetime] = []
    for service in services:
        state = postrows.posting_state(store, service.name)
        if not state.suspended_reason:
            pending, queued = postrows.next_attempts(store, service.name)
            times += [t for t in (pending, queued) if t is not None]
        if posts_in_window(store, settings.reply_window, now, service.name):
            times.append(next_poll_at(store.conn, settings, now, service.name)[0])
    return times


def queued_now(store: Store, services: Sequence[NetworkService], now: datetime) -> bool:
    """A network has a queued post whose time has come."""
    for service in services:
        queued = postrows.next_attempts(store, service.name)[1]
        if queued is not None and queued <= now:
            return True
    return False
