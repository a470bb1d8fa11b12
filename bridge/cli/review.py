"""The admin's tools before going live: `preview` (what is due now) and `backtest` (an archive
replayed with a simulated clock). Both print; neither posts anything."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bridge.adapters.archive import read_mbox
from bridge.config.settings import Config
from bridge.decide.history import WINDOW as HISTORY_WINDOW
from bridge.decide.history import History
from bridge.decide.planner import Drafter, Plan, due_at_of, plan_threads, replay_thread
from bridge.service.ingest_policy import build_ingest_policy, relay_echo
from bridge.stages.ingest import ingest_archive
from bridge.store.db import Store
from bridge.store.mail import MailStore
from bridge.store.posts import posted_roots


def preview_plans(mailstore: MailStore, config: Config, now: datetime) -> list[Plan]:
    threads = mailstore.threads(active_since=now - config.matcher.max_age)
    drafter = Drafter(config.compose, config.links, mailstore.author_names())
    history = History(mailstore.threads(active_since=now - HISTORY_WINDOW))
    return plan_threads(threads, now, config.matcher, drafter, posted_roots(mailstore.store),
                        history)


@contextmanager
def scratch_archive(mbox: str, config: Config) -> Iterator[MailStore]:
    """The archive ingested (bodies and all) into a scratch store that is gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="listserv-bridge-backtest-") as scratch:
        store = Store.open(Path(scratch) / "backtest.sqlite3")
        try:
            mailstore = MailStore(store, subject_window=config.ingest.subject_window)
            echo = relay_echo(config, store, strict=False)
            policy = build_ingest_policy(config, echo, body_since=None)
            ingest_archive(mailstore, read_mbox(mbox), policy)
            yield mailstore
        finally:
            store.close()


def backtest_plans(mbox: str, config: Config) -> Iterator[Plan]:
    """Ingest the archive into a scratch store, then replay every thread up to its last date."""
    with scratch_archive(mbox, config) as mailstore:
        end = mailstore.last_date()
        if end is None:
            return
        drafter = Drafter(config.compose, config.links, mailstore.author_names())
        history = History(mailstore.threads())
        for thread in mailstore.threads():
            yield replay_thread(thread, end, config.matcher, drafter, history)


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
