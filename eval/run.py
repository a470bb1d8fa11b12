"""Measure the bridge's judgement against hand labels, list by list.

    python eval/run.py --archive NAME=PATH.mbox [--archive NAME=PATH.mbox ...] [--errors]
    python eval/run.py --list-roots PATH.mbox

--list-roots prints each thread root as the bridge's threading sees it (Message-ID, date, sender,
subject, messages in the thread) and nothing the rules say about it: labels for a new list are
written from that list, blind, before any decision is looked at.

NAME picks eval/labels/NAME.tsv (Message-ID, verdict "question" or "not", why). The archives stay
outside the project: the README says where each can be had. Roots with no label are replies whose
parent is outside the slice: counted as "not a question".

Two views per list:
- judgement: every root weighed as if it were due now (post / hold / skip), whatever its timing;
- backtest: the replay `backtest` does (48 hours unanswered by default): what would really go out.
Printed per list: roots, questions, posts, holds, precision of posts, recall of posts + holds,
junk (spam, ads, scams, bots, job ads) posted, and texts that look unreadable (a heuristic).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from bridge.cli.review import backtest_plans, read_archive
from bridge.compose.links import LinkSettings
from bridge.config.settings import Config
from bridge.decide.history import History
from bridge.decide.matcher import judge
from bridge.decide.planner import Drafter
from bridge.durations import parse_duration
from bridge.service.log import configure_logging

LABELS = Path(__file__).resolve().parent / "labels"
LINK = "https://archive.example.org/{message_id}"
JUNK = re.compile(r"spam|scam|\bad\b|job ad|bot|phishing|warez|advance fee", re.I)
# A post text a reader cannot follow: a command line, a path, a dangling bracket, a "?:" joint.
UNREADABLE = re.compile(r"[A-Z]:\\|(?:^|\s)\$ |/usr/|(?:^|\s)--?\w+=|\?:|<(?!\S+>)|\b0x[0-9a-f]+")


@dataclass
class Score:
    roots: int = 0
    questions: int = 0
    posts: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    found: int = 0  # questions posted or held
    good_posts: int = 0
    junk_posted: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)

    def precision(self) -> str:
        return f"{self.good_posts / len(self.posts):.2f}" if self.posts else "-"

    def recall(self) -> str:
        return f"{self.found / self.questions:.2f}" if self.questions else "-"


def read_labels(name: str) -> dict[str, tuple[str, str]]:
    with (LABELS / f"{name}.tsv").open(encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]
    return {r[0]: (r[1], r[2] if len(r) > 2 else "") for r in rows}


def count(score: Score, mid: str, outcome: str, label: tuple[str, str], text: str | None) -> None:
    verdict, why = label
    score.roots += 1
    is_q = verdict == "question"
    score.questions += is_q
    if outcome == "post":
        score.posts.append(mid)
        score.good_posts += is_q
        if not is_q and JUNK.search(why):
            score.junk_posted.append(f"{mid} ({why})")
    elif outcome == "hold":
        score.holds.append(mid)
    score.found += is_q and outcome in ("post", "hold")
    if outcome != "skip" and text is not None and UNREADABLE.search(text):
        score.unreadable.append(text)


def judgement_view(path: str, labels: dict[str, tuple[str, str]], config: Config) -> Score:
    score = Score()
    with read_archive(path, config) as archive:
        if archive is None:
            return score
        drafter = Drafter(config.compose, config.links, archive.mailstore.author_names())
        threads = list(archive.threads())
        history = History(threads)
        for thread in threads:
            root = thread.root
            judgement, _ = judge(root, config.matcher, history.context(root))
            score.evidence[root.message_id] = " ".join(judgement.evidence)
            draft, _ = drafter.draft(root) if judgement.outcome != "skip" else (None, "")
            label = labels.get(root.message_id, ("not", "reply to a message outside the slice"))
            count(score, root.message_id, judgement.outcome, label, draft.text if draft else None)
    return score


def backtest_view(path: str, labels: dict[str, tuple[str, str]], config: Config) -> Score:
    score = Score()
    for plan in backtest_plans(path, config):
        root = plan.thread.root
        label = labels.get(root.message_id, ("not", "reply to a message outside the slice"))
        text = plan.draft.text if plan.draft else None
        count(score, root.message_id, plan.outcome, label, text)
    return score


def rows(name: str, view: str, s: Score) -> Iterator[str]:
    # in the backtest, answered and closed questions are rightly never posted: no recall there
    recall = s.recall() if view == "judgement" else "n/a"
    yield (f"| {name} | {view} | {s.roots} | {s.questions} | {len(s.posts)} | {len(s.holds)} | "
           f"{s.precision()} | {recall} | {len(s.junk_posted)} | {len(s.unreadable)} |")


def list_roots(path: str, config: Config, out: object) -> None:
    """Every thread root, tab-separated, with no decision, evidence or text summary."""
    write = out.write  # type: ignore[attr-defined]
    write("# message_id\tdate\tsender\tsubject\tmessages\n")
    with read_archive(path, config) as archive:
        for thread in archive.threads() if archive is not None else ():
            root = thread.root
            write(f"{root.message_id}\t{root.date:%Y-%m-%d %H:%M}\t{root.author.address}\t"
                  f"{root.subject}\t{len(thread.messages)}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", action="append", default=[], metavar="NAME=PATH",
                        help="a labelled list (eval/labels/NAME.tsv) and its mbox")
    parser.add_argument("--list-roots", metavar="PATH",
                        help="print the thread roots of an mbox, no decisions (for blind labels)")
    parser.add_argument("--unanswered-after", default="48h")
    parser.add_argument("--errors", action="store_true", help="list wrong posts and missed ones")
    args = parser.parse_args(argv)
    configure_logging("warning")  # the tables on stdout; only real problems on stderr
    if args.list_roots:
        list_roots(args.list_roots, Config(), sys.stdout)
        return 0
    if not args.archive:
        parser.error("give --archive NAME=PATH (or --list-roots PATH)")
    # Every list gets a link (a public-inbox style pattern) so that texts are composed and judged.
    config = replace(Config(), links=LinkSettings(strategy="template", url_template=LINK))
    config = replace(config, matcher=replace(
        config.matcher, unanswered_after=parse_duration(args.unanswered_after)))
    print("| list | view | roots | questions | posts | holds | precision of posts "
          "| recall of posts+holds | junk posted | unreadable texts |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for item in args.archive:
        name, _, path = item.partition("=")
        labels = read_labels(name)
        judged = judgement_view(path, labels, config)
        for line in (*rows(name, "judgement", judged),
                     *rows(name, "backtest", backtest_view(path, labels, config))):
            print(line)
        if args.errors:
            report_errors(judged, labels, sys.stderr)
    return 0


def report_errors(s: Score, labels: dict[str, tuple[str, str]], out: object) -> None:
    write = out.write  # type: ignore[attr-defined]
    for mid in s.posts:
        if labels.get(mid, ("not", ""))[0] != "question":
            write(f"  wrong post: {mid} ({labels.get(mid, ('', 'unlabelled'))[1]})\n"
                  f"      {s.evidence.get(mid, '')}\n")
    for mid in s.holds:
        write(f"  held: {mid} ({labels.get(mid, ('', 'unlabelled'))[1]})\n"
              f"      {s.evidence.get(mid, '')}\n")
    missed = [m for m, (v, _) in labels.items() if v == "question"
              and m not in s.posts and m not in s.holds]
    for mid in missed:
        write(f"  missed: {mid} ({labels[mid][1]})\n      {s.evidence.get(mid, '')}\n")
    for text in s.unreadable:
        write(f"  unreadable? {text}\n")


if __name__ == "__main__":
    raise SystemExit(main())
