"""The admin's tools before going live: `preview` (what is due now) and `backtest` (an archive
replayed with a simulated clock). Both print; neither posts anything."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bridge.decide.history import WINDOW as HISTORY_WINDOW
from bridge.decide.history import History
from bridge.decide.planner import Drafter, Plan, count_due, due_at_of, plan_threads
from bridge.model import Mail, RawMail, ThreadView
from bridge.store.mail import MailStore
from bridge.store.posts import posted_roots

if TYPE_CHECKING:
    from bridge.config.settings import Config
    from bridge.decide.matcher import MatcherSettings
    from bridge.stages.ingest import IngestPolicy


def preview_plans(mailstore: MailStore, config: Config, now: datetime) -> list[Plan]:
    threads = mailstore.threads(active_since=now - config.matcher.max_age)
    drafter = Drafter(config.compose, config.links, mailstore.author_names())
    history = History(mailstore.threads(active_since=now - HISTORY_WINDOW))
    return plan_threads(threads, now, config.matcher, drafter, posted_roots(mailstore.store),
                        history)


def due_counts(mailstore: MailStore, config: Config, now: datetime) -> tuple[int, int]:
    """`preview_plans`' threads due now and due soon, counted without writing the posts
    (`count_due`): `status` reports them without loading the template engine or twitter-text."""
    threads = mailstore.threads(active_since=now - config.matcher.max_age)
    history = History(mailstore.threads(active_since=now - HISTORY_WINDOW))
    return count_due(threads, now, config.matcher, config.links, mailstore.author_names(),
                     posted_roots(mailstore.store), history)


MAX_BODY_ROUNDS = 8  # reads of the archive for bodies; each names the next reply of a thread
NO_BODIES = datetime.max.replace(tzinfo=UTC)  # body_since that no message reaches


@dataclass(frozen=True, slots=True)
class Archive:
    """An archive read for a backtest: threaded in a scratch store, the needed bodies at hand."""

    mailstore: MailStore
    bodies: dict[str, str | None]
    end: datetime  # the archive's last message: the replay's clock stops there
    views: tuple[ThreadView, ...]  # every thread with the bodies read, built once

    def threads(self) -> Iterator[ThreadView]:
        yield from self.views


@contextmanager
def read_archive(mbox: str, config: Config) -> Iterator[Archive | None]:
    """Read an archive at archive speed; None when it holds no message.

    Pass 1 reads every message's headers only and threads them in a scratch store; pass 2 reads
    the archive again and parses the bodies of just the messages a decision can read
    (`bodies_needed`).
    """
    from bridge.adapters.archive import read_mbox
    from bridge.service.ingest_policy import build_ingest_policy, relay_echo
    from bridge.stages.ingest import ingest_archive
    from bridge.store.db import Store

    with tempfile.TemporaryDirectory(prefix="listserv-bridge-backtest-") as scratch:
        store = Store.open(Path(scratch) / "backtest.sqlite3")
        try:
            mailstore = MailStore(store, subject_window=config.ingest.subject_window)
            policy = build_ingest_policy(config, relay_echo(config, store, strict=False),
                                         body_since=None)
            ingest_archive(mailstore, read_mbox(mbox), replace(policy, body_since=NO_BODIES))
            headers = tuple(mailstore.threads())  # read from the store once
            end: datetime | None = None
            for thread in headers:
                last = thread.messages[-1].date if thread.messages else thread.root.date
                end = last if end is None else max(end, last)
            if end is None:
                yield None
                return
            bodies: dict[str, str | None] = {}
            views = headers
            for _ in range(MAX_BODY_ROUNDS):  # content-free replies are rare: 2 rounds, seldom 3
                wanted = set().union(*(bodies_needed(t, config.matcher, bodies.keys())
                                       for t in views))
                if not wanted:
                    break
                sources = mailstore.sources_of(wanted)
                bodies |= read_bodies(read_mbox(mbox), sources, wanted, policy)
                views = tuple(with_bodies(t, bodies) for t in headers)
            yield Archive(mailstore, bodies, end, views)
        finally:
            store.close()


def backtest_plans(mbox: str, config: Config) -> Iterator[Plan]:
    """Replay every thread of an archive up to the archive's last date (streamed)."""
    from bridge.decide.planner import replay_thread

    with read_archive(mbox, config) as archive:
        if archive is None:
            return
        drafter = Drafter(config.compose, config.links, archive.mailstore.author_names())
        history = History(archive.threads())
        for thread in archive.threads():
            yield replay_thread(thread, archive.end, config.matcher, drafter, history)


def root_candidates(thread: ThreadView) -> list[Mail]:
    """Every message that is the root of the thread as it stood at some moment (`view_at`):
    its parent is absent, or not yet there when it arrived."""
    dates = {m.message_id: m.date for m in thread.messages}
    return [m for m in thread.messages
            if m.in_reply_to is None or dates.get(m.in_reply_to, m.date) > m.date
            or m.in_reply_to not in dates]


def bodies_needed(thread: ThreadView, matcher: MatcherSettings,
                  known: AbstractSet[str] = frozenset()) -> set[str]:
    """Message-IDs whose words a decision can read and that are not read yet: every possible
    root, everything its asker wrote (closing words), and the other replies in date order up to
    the first one that says something (later replies cannot change whether and when the thread
    was answered). `known`: messages whose bodies were read already (`thread` carries them)."""
    from bridge.decide.matcher import is_content_free, same_person

    roots = root_candidates(thread)
    askers = [r.author for r in roots]
    needed = {r.message_id for r in roots}
    others = []
    for mail in thread.messages:
        if any(same_person(mail.author, a) for a in askers):
            needed.add(mail.message_id)
        elif mail.message_id not in needed and not _automatic(mail):
            others.append(mail)
    for mail in others:  # date order
        if mail.message_id not in known:
            needed.add(mail.message_id)
            break
        if not (mail.body and mail.body.strip()) or not is_content_free(mail.body, matcher,
                                                                        mail.author):
            break  # an answer (an empty body counts as one, as in the matcher)
    return needed - known


def _automatic(mail: Mail) -> bool:
    from bridge.decide import rules

    return any(flag in mail.flags for flag, _ in rules.AUTOMATIC_FLAGS)


def read_bodies(raws: Iterable[RawMail], sources: set[str], wanted: set[str],
                policy: IngestPolicy) -> dict[str, str | None]:
    """The clean bodies of the wanted messages, parsed exactly as `ingest` parses them."""
    from bridge.stages.ingest import parse_one

    bodies: dict[str, str | None] = {}
    for raw in raws:
        if raw.source not in sources:
            continue
        for mail in parse_one(raw, policy).mails:
            if mail.message_id in wanted:
                bodies[mail.message_id] = mail.body
    return bodies


def with_bodies(thread: ThreadView, bodies: dict[str, str | None]) -> ThreadView:
    def filled(mail: Mail) -> Mail:
        return replace(mail, body=bodies[mail.message_id]) if mail.message_id in bodies else mail

    return ThreadView(thread.thread_id, filled(thread.root),
                      tuple(filled(m) for m in thread.messages), thread.state)


def plan_json(plan: Plan, config: Config) -> str:
    shown = plan.draft if plan.outcome != "skip" else None
    return json.dumps({
        "message_id": plan.thread.root.message_id,
        "subject": plan.thread.root.subject,
        "decision": plan.outcome,
        "reason": plan.reason,
        "evidence": list(plan.evidence),
        "due_at": due_at_of(plan, config.matcher).isoformat(),
        "text": shown.text if shown else None,
        "weighted_length": shown.weighted_length if shown else None,
    }, ensure_ascii=False)


def _evidence(plan: Plan, indent: str = "    ") -> str:
    return f"{indent}evidence: {', '.join(plan.evidence)}\n" if plan.evidence else ""


def _category(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


def print_backtest(plans: Iterable[Plan], out: TextIO) -> None:
    plans = list(plans)
    shown = sorted((p for p in plans if p.outcome != "skip"), key=lambda p: p.at)
    held = sum(1 for p in shown if p.held)
    skipped = Counter(_category(p.reason) for p in plans if p.outcome == "skip")
    out.write(f"{len(plans)} threads: {len(shown) - held} would be posted, {held} held for a "
              f"moderator, {sum(skipped.values())} skipped\n\n")
    for plan in shown:
        assert plan.draft is not None
        out.write(f"{plan.at:%Y-%m-%d %H:%M} {plan.outcome} ({plan.draft.weighted_length}/280) "
                  f"{plan.thread.root.subject}\n    {plan.draft.text}\n{_evidence(plan)}")
    out.write("\nskipped, by reason:\n")
    for reason, count in skipped.most_common():
        out.write(f"  {count:5d}  {reason}\n")


def print_preview(plans: list[Plan], now: datetime, out: TextIO) -> None:
    due = [p for p in plans if p.due]
    held = [p for p in plans if p.held]
    soon = [p for p in plans if p.waiting]
    rest = [p for p in plans if not (p.due or p.held or p.waiting)]
    out.write(f"preview at {now:%Y-%m-%d %H:%M} UTC: {len(due)} due now, {len(held)} held for a "
              f"moderator, {len(soon)} due later, {len(rest)} skipped\n")
    for title, group in (("due now", due), ("held for a moderator", held), ("due later", soon)):
        out.write(f"\n{title}:\n" if group else "")
        for plan in group:
            assert plan.draft is not None
            when = plan.decision.due_at
            then = f" ({plan.decision.outcome} when due)" if plan.waiting else ""
            out.write(f"- {plan.thread.root.subject}\n  due {when:%Y-%m-%d %H:%M} "
                      f"({plan.reason}){then}; {plan.draft.weighted_length}/280 weighted\n"
                      f"  {plan.draft.text}\n{_evidence(plan, '  ')}")
    if rest:
        out.write("\nskipped:\n")
        for plan in rest:
            out.write(f"- {plan.thread.root.subject}: {plan.reason}\n")
