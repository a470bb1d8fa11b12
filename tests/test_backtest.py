"""backtest at archive speed decides exactly like a full parse; --thresholds counts posts and posts in
vain; --html writes one self-contained page that a real headless Chromium renders without errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from bridge.adapters.archive import read_mbox
from bridge.cli import review
from bridge.cli.main import main
from bridge.compose.post import weighted_length
from bridge.config.settings import Config
from bridge.decide.history import History
from bridge.decide.planner import (
    MAX_REPLAY_STEPS,
    Drafter,
    Plan,
    plan_thread,
    view_at,
)
from bridge.durations import format_duration
from bridge.model import Author, Mail, ThreadView
from bridge.service.ingest_policy import build_ingest_policy, relay_echo
from bridge.stages.ingest import ingest_archive
from bridge.store.db import Store
from bridge.store.mail import MailStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sololibrarians.mbox"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def decisions(plans: object) -> list[tuple[str, str, str, tuple[str, ...], str | None]]:
    return sorted((p.thread.root.message_id, p.outcome, p.reason,  # type: ignore[attr-defined]
                   p.evidence, p.draft.text if p.draft else None)  # type: ignore[attr-defined]
                  for p in plans)  # type: ignore[attr-defined]


def reference_replay(thread: ThreadView, end: datetime, config: Config, drafter: Drafter,
                     history: History) -> Plan:
    """replay_thread as it was before its per-thread memo: every stop judges and drafts anew."""
    now, plan = thread.root.date, None
    for _ in range(MAX_REPLAY_STEPS):
        view = view_at(thread, now)
        if view is None:
            break
        plan = plan_thread(view, now, config.matcher, drafter, history=history)
        if plan.due or plan.held or not plan.decision.waiting or plan.decision.due_at is None:
            return plan
        if plan.decision.due_at > end:
            left = format_duration(plan.decision.due_at - end)
            reason = f"not due before the archive ends (due {left} after its last message)"
            return Plan(plan.thread, plan.decision, None, reason, end)
        now = max(plan.decision.due_at, now)
    assert plan is not None
    return plan


def full_parse_plans(mbox: Path, config: Config) -> list[object]:
    """The way before, the reference: every message parsed with its body, then the same replay."""
    with tempfile.TemporaryDirectory() as scratch:
        store = Store.open(Path(scratch) / "full.sqlite3")
        mailstore = MailStore(store, subject_window=config.ingest.subject_window)
        policy = build_ingest_policy(config, relay_echo(config, store, strict=False), body_since=None)
        ingest_archive(mailstore, read_mbox(mbox), policy)
        end = mailstore.last_date()
        assert end is not None
        drafter = Drafter(config.compose, config.links, mailstore.author_names())
        history = History(mailstore.threads())
        plans: list[object] = [reference_replay(t, end, config, drafter, history)
                               for t in mailstore.threads()]
        store.close()
    return plans


def test_fast_backtest_decides_like_a_full_parse_on_the_example_archive() -> None:
    fast = decisions(review.backtest_plans(str(EXAMPLE), Config()))
    assert fast == decisions(full_parse_plans(EXAMPLE, Config()))
    assert any(outcome == "post" for _, outcome, _, _, _ in fast)


def test_fast_backtest_decides_like_a_full_parse_on_generated_mail(tmp_path: Path) -> None:
    mbox = tmp_path / "generated.mbox"
    subprocess.run([sys.executable, str(ROOT / "bench" / "corpus.py"), "--messages", "800",
                    "--seed", "7", "--out", str(mbox)], check=True, stdout=subprocess.DEVNULL)
    fast = decisions(review.backtest_plans(str(mbox), Config()))
    assert fast == decisions(full_parse_plans(mbox, Config()))
    assert len(fast) > 100 and {outcome for _, outcome, _, _, _ in fast} >= {"post", "skip"}


def _mail(mid: str, who: str, hours: float, parent: str | None = None) -> Mail:
    return Mail(message_id=mid, subject="Re: q" if parent else "q", subject_norm="q",
                is_reply_subject=parent is not None, author=Author(who, f"{who}@example.org"),
                date=datetime(2026, 11, 3, 9, tzinfo=UTC) + timedelta(hours=hours),
                in_reply_to=parent, references=(parent,) if parent else ())


def test_bodies_are_read_for_possible_roots_the_asker_and_replies_up_to_the_first_answer() -> None:
    root = _mail("root@x", "ann", 0)
    mails = [
        root,
        _mail("plus-one@x", "cy", 1, "root@x"),  # may be a bare "+1": read it
        _mail("answer@x", "bob", 2, "root@x"),  # read only once "+1" is known to say nothing
        _mail("later@x", "dee", 3, "root@x"),  # after the first answer: never read
        _mail("asker@x", "ann", 4, "root@x"),  # "never mind, found it"? always read
        _mail("early-child@x", "fay", 5, "late-parent@x"),  # a root until its parent comes
        _mail("late-parent@x", "eve", 6, "root@x"),
    ]
    thread = ThreadView(1, root, tuple(mails))
    matcher = Config().matcher
    first = review.bodies_needed(thread, matcher)
    assert first == {"root@x", "plus-one@x", "asker@x", "early-child@x"}
    bodies: dict[str, str | None] = dict.fromkeys(first, "Thanks for asking, here is how we do it.")
    bodies["plus-one@x"] = "+1"
    second = review.bodies_needed(review.with_bodies(thread, bodies), matcher, bodies.keys())
    assert second == {"answer@x"}
    bodies["answer@x"] = "Use the serials claims report, filtered by vendor."
    assert review.bodies_needed(review.with_bodies(thread, bodies), matcher, bodies.keys()) == set()


QUESTION = """From {who}@members.example.org {stamp}
From: {name} <{who}@members.example.org>
To: sla-dsol@googlegroups.com
Subject: {subject}
Date: {date}
Message-ID: <{mid}@members.example.org>
{reply}List-ID: <sla-dsol.googlegroups.com>
X-Google-Group-Id: 712093804417
List-Post: <https://groups.google.com/group/sla-dsol/post>, <mailto:sla-dsol@googlegroups.com>
Content-Type: text/plain; charset="UTF-8"

{body}

"""


def _entry(mid: str, who: str, subject: str, when: datetime, body: str, parent: str = "") -> str:
    reply = f"In-Reply-To: <{parent}@members.example.org>\n" if parent else ""
    return QUESTION.format(who=who, name=who.title(), subject=subject, mid=mid, reply=reply,
                           stamp=when.strftime("%a %b %d %H:%M:%S %Y"),
                           date=when.strftime("%a, %d %b %Y %H:%M:%S +0000"), body=body)


def threshold_archive(path: Path) -> None:
    """Q1 answered after 30 h, Q2 never, Q3 after 2 h; a last message 10 days on ends the archive."""
    t0 = datetime(2026, 11, 3, 9, tzinfo=UTC)
    ask = "How do I set up a renewal reminder for our serial subscriptions in the catalogue?"
    answer = "We use the claims report for that: Serials > Claims, filtered by vendor, every Monday."
    entries = [
        _entry("q1", "ann", "Renewal reminders for serials?", t0, ask),
        _entry("q2", "bob", "Budget template for a one-person library?", t0 + timedelta(hours=1),
               "Does anyone have a budget template for a one-person special library they can share?"),
        _entry("q3", "cy", "Interlibrary loan form in Koha?", t0 + timedelta(hours=2),
               "Is there a way to take interlibrary loan requests through a form in Koha?"),
        _entry("a3", "dee", "Re: Interlibrary loan form in Koha?", t0 + timedelta(hours=4),
               "Yes: the ILL module has a request form; enable ILLModule in the preferences.", "q3"),
        _entry("a1", "eve", "Re: Renewal reminders for serials?", t0 + timedelta(hours=30),
               answer, "q1"),
        _entry("end", "fay", "Meeting notes from the regional group", t0 + timedelta(days=10),
               "The notes from last week's regional meeting are on the shared drive now."),
    ]
    path.write_text("".join(entries), encoding="utf-8")


def test_thresholds_count_posts_and_posts_in_vain(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    mbox = tmp_path / "t.mbox"
    threshold_archive(mbox)
    assert main(["backtest", "--mbox", str(mbox), "--thresholds", "24h,48h", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"threshold": "24h", "posted": 2, "posted_in_vain": 1},
                    {"threshold": "48h", "posted": 1, "posted_in_vain": 0}]
    assert main(["backtest", "--mbox", str(mbox), "--thresholds", "24h,48h"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"24h\s+2\s+1 \(50%\)", text) and re.search(r"48h\s+1\s+0 \(0%\)", text)
    assert main(["backtest", "--mbox", str(mbox), "--thresholds", "24h,soon"]) == 2


def _report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    page = tmp_path / "report.html"
    assert main(["backtest", "--mbox", str(EXAMPLE), "--thresholds", "24h,48h,72h",
                 "--html", str(page)]) == 0
    assert f"report written to {page}" in capsys.readouterr().err
    return page


def test_the_report_is_self_contained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = _report(tmp_path, capsys).read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert not re.search(r"\b(?:src|href)\s*=", html)  # nothing to fetch when opened
    assert html.count('class="marker"') == 3 and 'data-threshold="48h"' in html
    assert 'id="posts-per-week"' in html and 'id="decisions"' in html
    assert "Koha: error when renewing a serial subscription" in html
    assert "answered by a member" in html  # the reasons, not just the posts


def test_the_report_renders_in_headless_chromium(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs Chromium (Debian: apt-get install chromium; scripts/test installs it)")
    page = _report(tmp_path, capsys)
    shot = tmp_path / "shot.png"
    common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
              "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True)
    assert '<svg id="answer-times"' in dom.stdout and dom.stdout.count("<rect") >= 12
    assert dom.stdout.count('class="marker"') == 3 and "</table>" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # no script, no error, no warning
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000  # a page with charts, not a blank one


PIECES = ["hello", "world ", "café", "e\u0301", "https://example.org/a/b?c=1", " www.example.com ",
          "example.org", "©", "®", "😷", "👩\u200d👩\u200d👧", "日本", "\u0958", "\r\n", "\n", "#tag",
          "@user", "1\ufe0f\u20e3", "—", "“q”", "ß", "Ω", "\u200d", "x.y", "foo.bar/baz", " ", ".", ":",
          "…", "‼", "⁉", "\u2030", "\u2032", "\u200e", "\u2060", "\u206f", "https://x.org/…"]


@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join) | st.text(max_size=60)
       | st.text(st.characters(min_codepoint=0x2000, max_codepoint=0x2070), max_size=20))
@settings(max_examples=400, deadline=None)
def test_the_composers_fast_length_equals_twitter_text(text: str) -> None:
    """The composer measures each post several times while fitting it; its shortcut for text that
    weighs one per character must count exactly what twitter-text counts."""
    assert weighted_length(text) == parse_tweet(text).weightedLength
