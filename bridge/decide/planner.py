"""Decide and draft: the matcher's decision for a thread plus the post it would get (pure).

Used by `preview` (now), `backtest` (a simulated clock over an archive) and the daemon.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from bridge.compose.links import LinkSettings, thread_link
from bridge.compose.post import ComposeSettings, Draft, compose_post, make_template_env
from bridge.compose.summary import summarise
from bridge.decide.evidence import Judgement
from bridge.decide.history import Context, History
from bridge.decide.matcher import Decision, MatcherSettings, Outcome, decide, due_time, judge
from bridge.durations import format_duration
from bridge.mail.threading import pick_root
from bridge.model import Mail, ThreadView

if TYPE_CHECKING:  # jinja2 loads where an environment is built (make_template_env)
    import jinja2

MAX_REPLAY_STEPS = 16  # each step moves the simulated clock forward; a thread needs two or three


@dataclass(frozen=True, slots=True)
class Plan:
    """What the bridge would do with one thread at one moment."""

    thread: ThreadView
    decision: Decision
    draft: Draft | None
    reason: str
    at: datetime  # the (simulated) time of the decision

    @property
    def due(self) -> bool:
        """Due now and clear: it goes out (within the caps)."""
        return self.decision.due and self.decision.outcome == "post" and self.draft is not None

    @property
    def held(self) -> bool:
        """Due now but doubtful: a moderator sees it first (a "held" post row)."""
        return self.decision.due and self.decision.outcome == "hold" and self.draft is not None

    @property
    def waiting(self) -> bool:
        return self.decision.waiting and self.draft is not None

    @property
    def outcome(self) -> Outcome:
        """post / hold now; everything else (waiting included) is not posted now: skip."""
        return "post" if self.due else "hold" if self.held else "skip"

    @property
    def evidence(self) -> tuple[str, ...]:
        return self.decision.evidence


class Drafter:
    """Links and composes posts with settings and templates loaded once."""

    def __init__(self, compose: ComposeSettings, links: LinkSettings,
                 other_names: tuple[str, ...] = ()) -> None:
        self.compose = compose
        self.links = links
        self.env: jinja2.Environment = make_template_env(compose)
        self.other_names = other_names  # senders the store has seen: scrubbed from posts too

    def draft(self, root: Mail) -> tuple[Draft | None, str]:
        link, why = thread_link(root, self.links)
        if link is None:
            return None, f"no link: {why}"
        try:
            return compose_post(root, link, self.compose, self.env, self.other_names), ""
        except ValueError as exc:
            return None, f"cannot compose: {exc}"


class RootMemo:
    """What a root's own words decide, kept while one thread is replayed: its context, judgement
    and draft depend only on the root (the history is fixed), and the replay asks about the same
    root at every stop of its clock."""

    def __init__(self, history: History, matcher: MatcherSettings, drafter: Drafter) -> None:
        self.history, self.matcher, self.drafter = history, matcher, drafter
        self._contexts: dict[str, Context] = {}
        self._judged: dict[str, tuple[Judgement, str]] = {}
        self._drafts: dict[str, tuple[Draft | None, str]] = {}

    def context(self, root: Mail) -> Context:
        key = root.message_id
        if key not in self._contexts:
            self._contexts[key] = self.history.context(root)
        return self._contexts[key]

    def judged(self, root: Mail) -> tuple[Judgement, str]:
        key = root.message_id
        if key not in self._judged:
            self._judged[key] = judge(root, self.matcher, self.context(root))
        return self._judged[key]

    def draft(self, root: Mail) -> tuple[Draft | None, str]:
        key = root.message_id
        if key not in self._drafts:
            self._drafts[key] = self.drafter.draft(root)
        return self._drafts[key]


def plan_thread(
    thread: ThreadView, now: datetime, matcher: MatcherSettings, drafter: Drafter,
    posted: AbstractSet[str] = frozenset(), history: History | None = None,
    memo: RootMemo | None = None, draft_waiting: bool = True,
) -> Plan:
    """`memo` (made with the same matcher, drafter and history) keeps what a root's words decide
    between calls about the same thread; without `draft_waiting` a thread that is not due yet
    gets no draft (a replay that moves its clock on never reads it)."""
    root = thread.root
    if memo is not None:
        decision = decide(thread, now, matcher, posted, memo.context(root),
                          lambda: memo.judged(root))
    else:
        decision = _decide(thread, now, matcher, posted, history)
    if not (decision.due or decision.waiting) or (decision.waiting and not draft_waiting):
        return Plan(thread, decision, None, decision.reason, now)
    draft, why = memo.draft(root) if memo is not None else drafter.draft(root)
    if draft is not None and draft.needs_review and decision.outcome == "post":
        # the text cannot stand alone (no readable question, a vague subject): a moderator sees it
        why = draft.needs_review.replace(", ", " / ").replace("; ", " / ")  # the reason's separators
        decision = replace(decision, outcome="hold",
                           evidence=(*decision.evidence, f"TEXT_NEEDS_REVIEW ({why})"))
    return Plan(thread, decision, draft, decision.reason if draft else why, now)


def _decide(thread: ThreadView, now: datetime, matcher: MatcherSettings,
            posted: AbstractSet[str], history: History | None) -> Decision:
    return decide(thread, now, matcher, posted, (history or History([thread])).context(thread.root))


def count_due(
    threads: Iterable[ThreadView], now: datetime, matcher: MatcherSettings, links: LinkSettings,
    other_names: tuple[str, ...] = (), posted: AbstractSet[str] = frozenset(),
    history: History | None = None,
) -> tuple[int, int]:
    """How many of `plan_threads`' plans are due now and due soon, without writing the posts
    (no template, no length fitting): the decision, the thread link, and whether the text
    needs a moderator (its summary, as `compose_post` makes it). The same counts, but for a
    question whose post cannot be composed at all (a template or hashtags that leave no room
    for it, which `preview` names): counted here, skipped by the planner."""
    threads = list(threads)
    history = history or History(threads)
    due = soon = 0
    for thread in threads:
        decision = _decide(thread, now, matcher, posted, history)
        if not (decision.due or decision.waiting) or thread_link(thread.root, links)[0] is None:
            continue
        soon += decision.waiting
        due += (decision.due and decision.outcome == "post"
                and not summarise(thread.root, other_names).needs_review)
    return due, soon


def plan_threads(
    threads: Iterable[ThreadView], now: datetime, matcher: MatcherSettings, drafter: Drafter,
    posted: AbstractSet[str] = frozenset(), history: History | None = None,
) -> list[Plan]:
    """Plans for every thread: due, held, waiting, skipped; each oldest due time first.

    `history` is what the list's past says about each root (languages, senders, reposts);
    without it, the threads given are the history."""
    threads = list(threads)
    history = history or History(threads)
    plans = [plan_thread(t, now, matcher, drafter, posted, history) for t in threads]

    def order(p: Plan) -> tuple[int, datetime, str]:
        rank = 0 if p.due else 1 if p.held else 2 if p.waiting else 3
        return (rank, p.decision.due_at or p.thread.root.date, p.thread.root.message_id)

    return sorted(plans, key=order)


def view_at(thread: ThreadView, when: datetime) -> ThreadView | None:
    """The thread as it stood at `when`: only messages dated up to then, root chosen among them."""
    mails = [m for m in thread.messages if m.date <= when]
    if not mails:
        return None
    root = pick_root(mails, {m.message_id: m.in_reply_to for m in mails})
    return ThreadView(thread.thread_id, root, tuple(mails), thread.state)


def replay_thread(
    thread: ThreadView, end: datetime, matcher: MatcherSettings, drafter: Drafter,
    history: History | None = None,
) -> Plan:
    """Walk a simulated clock through one thread's life up to `end` (the archive's last date).

    The clock starts at the root's date and jumps to each due time the matcher names; at each
    stop the thread is seen as it stood then. The first stop where the thread is due is when the
    bridge would have posted (or held) it; otherwise the last decision says why it never was.
    """
    now = thread.root.date
    plan: Plan | None = None
    memo = RootMemo(history, matcher, drafter) if history is not None else None
    for _ in range(MAX_REPLAY_STEPS):
        view = view_at(thread, now)
        if view is None:
            break
        plan = plan_thread(view, now, matcher, drafter, history=history, memo=memo,
                           draft_waiting=False)  # a draft only where the replay stops
        if plan.decision.waiting and plan.decision.due_at is not None and plan.decision.due_at > end:
            plan = plan_thread(view, now, matcher, drafter, history=history, memo=memo)
        if plan.due or plan.held or not plan.decision.waiting or plan.decision.due_at is None:
            return plan
        if plan.decision.due_at > end:
            left = format_duration(plan.decision.due_at - end)
            reason = f"not due before the archive ends (due {left} after its last message)"
            return Plan(plan.thread, plan.decision, None, reason, end)
        now = max(plan.decision.due_at, now)
    if plan is None:
        raise ValueError("a thread has at least one message")
    return plan


def due_at_of(plan: Plan, matcher: MatcherSettings) -> datetime:
    """When the thread was (or would have been) due: the decision's, else from the root's date."""
    return plan.decision.due_at or due_time(plan.thread.root, matcher)
