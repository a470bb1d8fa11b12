"""preview and backtest: the admin's view of what the bridge would post, and why not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.adapters.archive import read_mbox
from bridge.cli.main import main
from bridge.cli.review import due_counts, preview_plans
from bridge.compose.links import LinkSettings
from bridge.config.settings import Config
from bridge.stages.ingest import IngestPolicy, ingest_archive
from bridge.store.db import Store
from bridge.store.mail import MailStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sololibrarians.mbox"
END = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)


def backtest(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, object]]:
    assert main(["backtest", "--mbox", str(EXAMPLE), "--json", *extra]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_backtest_json_contract_and_decisions(capsys: pytest.CaptureFixture[str]) -> None:
    rows = backtest(capsys)
    assert rows and all(set(r) == {"message_id", "subject", "decision", "reason", "evidence",
                                   "due_at", "text", "weighted_length"} for r in rows)
    posts = {r["subject"]: r for r in rows if r["decision"] == "post"}
    assert "Koha: error when renewing a serial subscription" in posts  # no "?" but a request
    assert "COUNTER 5: TR_J3 or TR_J1 for the board report?" in posts  # only "+1"/"me too"
    for row in posts.values():
        text = str(row["text"])
        assert "#sololibrarians" in text and "https://groups.google.com/d/msgid/sla-dsol/" in text
        assert isinstance(row["weighted_length"], int) and row["weighted_length"] <= 280
        assert "<" not in str(row["message_id"])
        datetime.fromisoformat(str(row["due_at"]))
    skips = {r["subject"]: r for r in rows if r["decision"] == "skip"}
    assert all(r["text"] is None and r["weighted_length"] is None for r in skips.values())
    reasons = " | ".join(str(r["reason"]) for r in skips.values())
    for expected in ("answered by a member", "opted out: [no-tweet]", "opted out: X-No-Archive",
                     "spam", "call for papers", "job ad", "closed by the asker",
                     "not due before the archive ends"):
        assert expected in reasons, expected


def test_backtest_threshold_override_changes_what_is_due(capsys: pytest.CaptureFixture[str]) -> None:
    default = {r["message_id"] for r in backtest(capsys) if r["decision"] == "post"}
    longer = {r["message_id"] for r in backtest(capsys, "--unanswered-after", "6d")
              if r["decision"] == "post"}
    assert longer < default  # with a 6-day threshold fewer questions reach it before the end
    assert main(["backtest", "--mbox", str(EXAMPLE), "--unanswered-after", "soon"]) == 2


def test_backtest_reads_a_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[post]\nhashtags = ["#sololibrarians", "#librarytwitter"]\n'
                   '[matcher]\nopt_out_senders = ["@westfield-marine.example.org"]\n')
    rows = backtest(capsys, "--config", str(cfg))
    koha = next(r for r in rows if r["subject"] == "Koha: error when renewing a serial subscription")
    assert koha["decision"] == "skip" and "opted out" in str(koha["reason"])
    assert all("#librarytwitter" in str(r["text"]) for r in rows if r["decision"] == "post")


def test_preview_shows_due_and_waiting_threads_with_their_text(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    ms = MailStore(store)
    ingest_archive(ms, read_mbox(EXAMPLE), IngestPolicy(body_since=None))
    plans = preview_plans(ms, Config(), END)
    due = [p.thread.root.subject for p in plans if p.due]
    waiting = [p.thread.root.subject for p in plans if p.waiting]
    assert "Koha: error when renewing a serial subscription" in due
    assert "Retention schedule for the library's own records?" in waiting
    assert all(p.draft is not None and p.draft.weighted_length <= 280 for p in plans if p.due)
    # a root already in the posts table is never due again
    root = next(p.thread.root.message_id for p in plans if p.due)
    with store.transaction():
        store.conn.execute("INSERT INTO posts(root_id, status, text, link, created_at) "
                           "VALUES (?, 'confirmed', 't', 'l', 0)", (root,))
    again = preview_plans(ms, Config(), END)
    assert root not in {p.thread.root.message_id for p in again if p.due}
    store.close()


VAGUE_MBOX = """\
From kim@library.example.org Tue Nov 24 08:00:00 2026
From: Kim <kim@library.example.org>
To: sla-dsol@googlegroups.com
Subject: Help
Date: Tue, 24 Nov 2026 08:00:00 +0000
Message-ID: <vague@library.example.org>
List-Id: <sla-dsol.googlegroups.com>

Our catalogue stopped working this morning and nobody here knows what to do.

From lee@library.example.org Tue Nov 24 09:00:00 2026
From: Lee <lee@library.example.org>
To: sla-dsol@googlegroups.com
Subject: Cataloguing rules for zines
Date: Tue, 24 Nov 2026 09:00:00 +0000
Message-ID: <zines@library.example.org>
List-Id: <sla-dsol.googlegroups.com>

Has anyone catalogued zines with the rules at example.org or a local scheme?
"""


def test_status_counts_what_the_planner_drafts_without_composing(tmp_path: Path) -> None:
    """`status` counts due threads without writing posts (`count_due`): at every moment of the
    example's life, and with links refused, its counts are those of the plans."""
    store = Store.open(tmp_path / "b.sqlite3")
    ms = MailStore(store)
    extra = tmp_path / "extra.mbox"
    extra.write_text(VAGUE_MBOX)
    for mbox in (EXAMPLE, extra):
        ingest_archive(ms, read_mbox(mbox), IngestPolicy(body_since=None))
    seen: set[str] = set()
    for config in (Config(), Config(links=LinkSettings(archive_private=True))):
        now = datetime(2026, 11, 2, tzinfo=UTC)
        while now < END + timedelta(days=8):
            plans = preview_plans(ms, config, now)
            due, soon = sum(p.due for p in plans), sum(p.waiting for p in plans)
            assert due_counts(ms, config, now) == (due, soon), now
            seen |= {"due"} if due else set()
            seen |= {"soon"} if soon else set()
            seen |= {"held for its text"} if any(
                p.held and p.draft and p.draft.needs_review for p in plans) else set()
            now += timedelta(hours=17)  # a different hour of the day each time
    assert seen == {"due", "soon", "held for its text"}
    # a root already posted is counted by neither
    later = datetime(2026, 11, 26, 12, tzinfo=UTC)
    before = due_counts(ms, Config(), later)
    zines = next(p.thread.root.message_id for p in preview_plans(ms, Config(), later)
                 if p.due and p.thread.root.subject == "Cataloguing rules for zines")
    with store.transaction():
        store.conn.execute("INSERT INTO posts(root_id, status, text, link, created_at) "
                           "VALUES (?, 'confirmed', 't', 'l', 0)", (zines,))
    plans = preview_plans(ms, Config(), later)
    after = (sum(p.due for p in plans), sum(p.waiting for p in plans))
    assert due_counts(ms, Config(), later) == after and after[0] == before[0] - 1
    store.close()


ECHO_MBOX = """\
From ann@library.example.org Mon Mar  3 09:00:00 2025
From: Ann <ann@library.example.org>
To: solo@lists.example.org
Subject: Which ILS for a one-person library?
Date: Mon, 03 Mar 2025 09:00:00 +0000
Message-ID: <q1@library.example.org>

Hello, which integrated library system would you recommend for a one-person library?
We have about 5,000 books and no IT support. Any advice is welcome.

From bridge@bridge.example.net Mon Mar  3 10:00:00 2025
From: "Jane Doe (@jane) via Bridge" <bridge@bridge.example.net>
To: solo@lists.example.org
Subject: Re: Which ILS for a one-person library?
Date: Mon, 03 Mar 2025 10:00:00 +0000
Message-ID: <lsb-relay.1741000000.00aa11bb22cc33dd@bridge.example.net>
In-Reply-To: <q1@library.example.org>
References: <q1@library.example.org>

Jane Doe (@jane) answered on X: Koha works well for us, hosted by a support company.

From bob@library.example.org Fri Mar  7 09:00:00 2025
From: Bob <bob@library.example.org>
To: solo@lists.example.org
Subject: Meeting notes
Date: Fri, 07 Mar 2025 09:00:00 +0000
Message-ID: <n1@library.example.org>

The notes of Tuesday's meeting are on the shared drive.
"""


def test_ingest_and_backtest_recognise_our_relay_coming_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every path builds the same IngestPolicy: not only the daemon flags our own relay echo."""
    mbox = tmp_path / "echo.mbox"
    mbox.write_text(ECHO_MBOX)
    cfg = tmp_path / "bridge.toml"
    cfg.write_text('[relay]\nfrom_address = "bridge@bridge.example.net"\n'
                   'list_address = "solo@lists.example.org"\nadmin_contact = "pat@bridge.example.net"\n')
    db = str(tmp_path / "b.sqlite3")
    assert main(["ingest", "--config", str(cfg), "--mbox", str(mbox), "--db", db, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["threads", "--config", str(cfg), "--db", db, "--json"]) == 0
    threads = {t["root"]: t for t in map(json.loads, capsys.readouterr().out.splitlines())}
    assert threads["q1@library.example.org"]["state"] == "answered_via_x"
    assert main(["backtest", "--config", str(cfg), "--mbox", str(mbox), "--json"]) == 0
    rows = {r["message_id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["q1@library.example.org"]["reason"] == "answered via X"
