"""`backtest --thresholds` and `--html`: choose the threshold from a picture.

Per threshold: the questions the bridge would have posted and how many of those the list answered
later anyway (posted in vain). The HTML page (templates/backtest_report.html.j2) shows the list's
time-to-first-answer distribution with the thresholds marked, the posts per week for the chosen
threshold and the table of decisions with reasons; it is self-contained (inline SVG and CSS, no
script, nothing fetched when opened).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from importlib.resources import files
from typing import TYPE_CHECKING, Any, TextIO

from bridge.durations import format_duration, parse_duration
from bridge.errors import ConfigError

if TYPE_CHECKING:
    from bridge.decide.history import History
    from bridge.decide.matcher import MatcherSettings
    from bridge.decide.planner import Drafter, Plan
    from bridge.model import ThreadView

REPORT_TEMPLATE = "backtest_report.html.j2"
# Histogram bins of the time to the first answer, in hours (the last bin is open-ended).
BIN_EDGES_H = (0, 1, 3, 6, 12, 24, 48, 72, 120, 168, 336)
CHART_W, CHART_H, BAR_GAP = 720, 220, 4


@dataclass(frozen=True, slots=True)
class Replayed:
    """One thread's backtest decision, with what the whole archive says happened next."""

    plan: Plan
    question: bool  # the root asks for something (the matcher's request rules)
    first_answer: datetime | None  # the first qualifying answer anywhere in the archive

    @property
    def posted(self) -> bool:
        return self.plan.outcome == "post"

    @property
    def in_vain(self) -> bool:
        """Posted, and the list answered afterwards anyway."""
        return self.posted and self.first_answer is not None and self.first_answer > self.plan.at


@dataclass(frozen=True, slots=True)
class ThresholdRun:
    label: str
    threshold: timedelta
    results: tuple[Replayed, ...]

    @property
    def posted(self) -> int:
        return sum(1 for r in self.results if r.posted)

    @property
    def in_vain(self) -> int:
        return sum(1 for r in self.results if r.in_vain)


def parse_thresholds(text: str, matcher: MatcherSettings, option: str = "--thresholds",
                     single: bool = False) -> list[tuple[str, MatcherSettings]]:
    """"24h,48h,72h" -> one matcher per threshold, each checked like the config's own."""
    from bridge.decide.matcher import check_settings

    labels = [part.strip() for part in (text.split(",") if not single else [text]) if part.strip()]
    if not labels:
        raise ConfigError([f"{option}: give one or more durations, e.g. 24h,48h,72h"])
    found: list[tuple[str, MatcherSettings]] = []
    for label in labels:
        try:
            after = parse_duration(label)
        except ValueError as exc:
            raise ConfigError([f"{option}: {exc}"]) from None
        variant = replace(matcher, unanswered_after=after)
        problems = check_settings(variant)
        if problems:
            raise ConfigError([f"{option} {label}: {p}" for p in problems])
        found.append((label, variant))
    return found


def first_answer(thread: ThreadView, matcher: MatcherSettings) -> datetime | None:
    from bridge.decide.matcher import is_qualifying_answer

    root = thread.root
    dates = [m.date for m in thread.replies
             if m.date >= root.date and is_qualifying_answer(m, root.author, matcher)]
    return min(dates) if dates else None


def replay_all(threads: Iterable[ThreadView], end: datetime, runs: Sequence[tuple[str, MatcherSettings]],
               drafter: Drafter, history: History | None = None) -> list[ThresholdRun]:
    """Every thread replayed once per threshold (the archive is read once for all of them)."""
    from bridge.decide.matcher import classify_request
    from bridge.decide.planner import replay_thread

    collected: list[list[Replayed]] = [[] for _ in runs]
    for thread in threads:
        question = classify_request(thread.root, runs[0][1])[0]
        answered = first_answer(thread, runs[0][1])
        for index, (_, matcher) in enumerate(runs):
            plan = replay_thread(thread, end, matcher, drafter, history)
            collected[index].append(Replayed(plan, question, answered))
    return [ThresholdRun(label, matcher.unanswered_after, tuple(found))
            for (label, matcher), found in zip(runs, collected, strict=True)]


def print_thresholds(runs: Sequence[ThresholdRun], out: TextIO) -> None:
    out.write(f"{'threshold':>10}  {'posted':>7}  {'answered later anyway (in vain)':>32}\n")
    for run in runs:
        share = f"{100 * run.in_vain / run.posted:.0f}%" if run.posted else "-"
        out.write(f"{run.label:>10}  {run.posted:>7}  {run.in_vain:>25} ({share})\n")


# --- the HTML page ---------------------------------------------------------------------------

def _bin_label(lo: int, hi: int | None) -> str:
    def fmt(hours: int) -> str:
        return f"{hours // 24}d" if hours >= 48 and hours % 24 == 0 else f"{hours}h"

    return f"≥ {fmt(lo)}" if hi is None else f"{fmt(lo)}–{fmt(hi)}"


def answer_histogram(results: Iterable[Replayed], thresholds: Sequence[tuple[str, timedelta]]
                     ) -> dict[str, Any]:
    """Bars (one per bin, plus "never answered") and threshold markers, in SVG coordinates."""
    counts = [0] * len(BIN_EDGES_H)
    never = 0
    for result in results:
        if not result.question:
            continue
        if result.first_answer is None:
            never += 1
            continue
        hours = (result.first_answer - result.plan.thread.root.date).total_seconds() / 3600
        index = max(i for i, edge in enumerate(BIN_EDGES_H) if hours >= edge) if hours >= 0 else 0
        counts[index] += 1
    labels = [_bin_label(lo, BIN_EDGES_H[i + 1] if i + 1 < len(BIN_EDGES_H) else None)
              for i, lo in enumerate(BIN_EDGES_H)] + ["never"]
    bars = _bars([*counts, never], labels)
    slot = CHART_W / len(labels)
    markers = []
    for label, threshold in thresholds:
        hours = threshold.total_seconds() / 3600
        position = float(len(BIN_EDGES_H) - 1)
        for i, lo in enumerate(BIN_EDGES_H[:-1]):
            hi = BIN_EDGES_H[i + 1]
            if lo <= hours < hi:
                position = i + (hours - lo) / (hi - lo)
                break
        markers.append({"label": label, "x": round(position * slot, 1)})
    return {"bars": bars, "markers": markers, "questions": sum(counts) + never, "never": never}


def posts_per_week(run: ThresholdRun) -> dict[str, Any]:
    weeks = Counter(_monday(r.plan.at) for r in run.results if r.posted)
    if not weeks:
        return {"bars": [], "total": 0}
    first, last = min(weeks), max(weeks)
    span = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    bars = _bars([weeks.get(w, 0) for w in span], [w.strftime("%Y-%m-%d") for w in span])
    return {"bars": bars, "total": sum(weeks.values()), "busiest": max(weeks.values())}


def _monday(when: datetime) -> datetime:
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _bars(counts: Sequence[int], labels: Sequence[str]) -> list[dict[str, Any]]:
    top = max(counts, default=0) or 1
    slot = CHART_W / max(len(counts), 1)
    bars = []
    for i, (count, label) in enumerate(zip(counts, labels, strict=True)):
        height = round(CHART_H * count / top, 1)
        bars.append({"x": round(i * slot + BAR_GAP / 2, 1), "width": round(max(slot - BAR_GAP, 1), 1),
                     "y": round(CHART_H - height, 1), "height": height, "count": count,
                     "label": label, "center": round(i * slot + slot / 2, 1)})
    return bars


def decision_rows(run: ThresholdRun) -> list[dict[str, Any]]:
    rows = []
    for result in sorted(run.results, key=lambda r: r.plan.thread.root.date):
        plan = result.plan
        rows.append({
            "date": plan.thread.root.date.strftime("%Y-%m-%d %H:%M"),
            "subject": plan.thread.root.subject,
            "outcome": plan.outcome,
            "reason": plan.reason,
            "evidence": ", ".join(plan.evidence),
            "at": plan.at.strftime("%Y-%m-%d %H:%M") if result.posted else "",
            "in_vain": result.in_vain,
            "text": plan.draft.text if plan.draft is not None and plan.outcome != "skip" else "",
        })
    return rows


def render_report(runs: Sequence[ThresholdRun], archive: str, generated: datetime) -> str:
    """The whole page; the first threshold is the chosen one (posts per week, decisions)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FunctionLoader(_packaged), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    chosen = runs[0]
    return env.get_template(REPORT_TEMPLATE).render(
        archive=archive,
        generated=generated.strftime("%Y-%m-%d %H:%M UTC"),
        chart={"width": CHART_W, "height": CHART_H},
        runs=[{"label": r.label, "posted": r.posted, "in_vain": r.in_vain,
               "threshold": format_duration(r.threshold)} for r in runs],
        chosen=chosen.label,
        histogram=answer_histogram(chosen.results, [(r.label, r.threshold) for r in runs]),
        weekly=posts_per_week(chosen),
        rows=decision_rows(chosen),
    )


def _packaged(name: str) -> str | None:
    resource = files("bridge.templates").joinpath(name)
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def write_report(runs: Sequence[ThresholdRun], archive: str, path: str, generated: datetime) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render_report(runs, archive, generated))
