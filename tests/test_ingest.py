"""Ingest of a local archive end to end: counts, problems recorded and skipped, re-runs idempotent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.model import Cursor, Problem, RawMail
from bridge.stages.ingest import IngestPolicy, ingest_archive, store_batch
from bridge.store.db import Store
from bridge.store.mail import MailStore


def msg(mid: str, subject: str, when: str, extra: str = "", body: str = "text") -> bytes:
    return (f"From x@example.org Mon Nov  2 09:15:00 2026\nMessage-ID: <{mid}>\nFrom: P <p-{mid}>\n"
            f"Subject: {subject}\nDate: {when}\n{extra}\n{body}\n\n").encode()


ARCHIVE = b"".join([
    b"From x@example.org Mon Nov  2 09:15:00 2026\n\nnot a message, no headers at all\n\n",
    msg("q1@example.org", "Koha serials", "Mon, 2 Nov 2026 09:15:00 +0000"),
    msg("a1@example.org", "Re: Koha serials", "Mon, 2 Nov 2026 11:00:00 +0000",
        "In-Reply-To: <q1@example.org>\nReferences: <q1@example.org>\n"),
    msg("q2@example.org", "ILL for hospitals", "Tue, 3 Nov 2026 09:00:00 +0000"),
])


def test_cli_ingest_then_threads_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mbox = tmp_path / "list.mbox"
    mbox.write_bytes(ARCHIVE + b"From x@example.org Tue Nov  3 10:00:00 2026\n\n\n")
    db = str(tmp_path / "b.sqlite3")
    assert main(["ingest", "--mbox", str(mbox), "--db", db, "--no-progress"]) == 0
    summary = capsys.readouterr().out
    # the headerless text and the From_ line followed only by blank lines are both problems
    assert "ingested 3 new messages" in summary and "2 problems" in summary
    assert main(["threads", "--json", "--db", db]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_root = {r["root"]: r for r in rows}
    assert by_root["q1@example.org"]["messages"] == ["q1@example.org", "a1@example.org"]
    assert by_root["q1@example.org"]["subject"] == "Koha serials"
    assert by_root["q1@example.org"]["state"] == "replied"
    assert by_root["q2@example.org"]["state"] == "open"
    # a second run stores nothing new: identity is the Message-ID
    assert main(["ingest", "--mbox", str(mbox), "--db", db, "--no-progress"]) == 0
    assert "ingested 0 new messages (3 duplicates" in capsys.readouterr().out


def test_bad_config_exits_2_listing_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[imap]\nhost = "h"\npassword = "inline"\n')
    assert main(["threads", "--config", str(cfg), "--db", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "imap.username: required" in err and "imap.password" in err


def test_batch_problems_and_cursor_commit_together(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    ms = MailStore(store)
    raws = [RawMail(b"", "imap:INBOX uid 1"),
            RawMail(msg("ok@example.org", "s", "Mon, 2 Nov 2026 09:15:00 +0000"), "imap:INBOX uid 2")]
    oversized = [Problem("imap:INBOX uid 3", "too big", None, 10**9)]
    report = store_batch(ms, raws, IngestPolicy(), Cursor("INBOX", 9, 3), oversized)
    assert (report.stored, report.problems) == (1, 2)
    assert store.get_cursor("INBOX") == Cursor("INBOX", 9, 3)
    assert {p.source for p in store.problems()} == {"imap:INBOX uid 1", "imap:INBOX uid 3"}


def test_bodies_are_parsed_only_for_recent_mail(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    ms = MailStore(store)
    raws = [RawMail(msg("old@example.org", "s", "Mon, 2 Nov 2020 09:15:00 +0000"), "a"),
            RawMail(msg("new@example.org", "t", "Mon, 2 Nov 2026 09:15:00 +0000"), "b")]
    ingest_archive(ms, raws, IngestPolicy(body_since=datetime(2026, 1, 1, tzinfo=UTC)))
    old, new = ms.get_mail("old@example.org"), ms.get_mail("new@example.org")
    assert old is not None and old.body is None
    assert new is not None and new.body == "text"


def test_other_lists_are_skipped_when_a_list_id_is_configured(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    ms = MailStore(store)
    raws = [RawMail(msg("m1@example.org", "s", "Mon, 2 Nov 2026 09:15:00 +0000",
                        "List-Id: Other <other.example.org>\n"), "a"),
            RawMail(msg("m2@example.org", "s", "Mon, 2 Nov 2026 09:15:00 +0000",
                        "List-Id: SLA <sla-dsol.googlegroups.com>\n"), "b")]
    report = ingest_archive(ms, raws, IngestPolicy(list_id="sla-dsol.googlegroups.com"))
    assert (report.stored, report.skipped_list) == (1, 1)


def test_an_unexpected_parser_crash_is_a_problem_not_a_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bridge.stages.ingest as ingest_module

    real = ingest_module.parse_mail

    def explode(data: bytes, options: object) -> object:
        if b"boom" in data:
            raise RuntimeError("parser bug")
        return real(data, options)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_module, "parse_mail", explode)
    store = Store.open(tmp_path / "b.sqlite3")
    raws = [RawMail(msg("boom@example.org", "boom", "Mon, 2 Nov 2026 09:15:00 +0000"), "a"),
            RawMail(msg("fine@example.org", "s", "Mon, 2 Nov 2026 09:15:00 +0000"), "b")]
    report = ingest_archive(MailStore(store), raws, IngestPolicy())
    assert (report.stored, report.problems) == (1, 1)
    assert store.problems()[0].reason == "RuntimeError: parser bug"


def test_parallel_ingest_gives_the_same_store_as_one_process(tmp_path: Path) -> None:
    """Parsing in worker processes changes speed, never the threads or the counts."""
    raws = [RawMail(msg(f"m{i}@example.org", f"Re: topic {i % 7}" if i % 3 else f"topic {i % 7}",
                        f"Mon, {2 + i % 20} Nov 2026 09:15:00 +0000",
                        f"In-Reply-To: <m{i - 1}@example.org>\n" if i % 3 else ""), f"#{i}")
            for i in range(300)] + [RawMail(b"", "empty", problem="unreadable: gone")]
    results = []
    for workers in (1, 2):
        store = Store.open(tmp_path / f"w{workers}.sqlite3")
        ms = MailStore(store)
        report = ingest_archive(ms, raws, IngestPolicy(), batch_size=50, workers=workers)
        threads = sorted(tuple(m.message_id for m in t.messages) for t in ms.threads())
        results.append((report.as_dict(), threads, len(store.problems())))
        store.close()
    assert results[0] == results[1]
    assert results[0][0]["problems"] == 1 and results[0][2] == 1


def test_the_fast_path_threads_like_a_full_stdlib_parse(tmp_path: Path) -> None:
    """Headers-only parsing (the backfill fast path), full parsing and parallel parsing give the
    same threads, and those equal an independent threading of stdlib-parsed headers."""
    import email
    from email import policy as email_policy

    from bridge.adapters.archive import read_mbox

    example = Path(__file__).resolve().parent.parent / "examples" / "sololibrarians.mbox"
    results = []
    for name, policy, workers in (("full", IngestPolicy(body_since=None), 1),
                                  ("headers", IngestPolicy(body_since=datetime(2100, 1, 1, tzinfo=UTC)), 1),
                                  ("parallel", IngestPolicy(body_since=None), 2)):
        store = Store.open(tmp_path / f"{name}.sqlite3")
        ms = MailStore(store)
        ingest_archive(ms, read_mbox(example), policy, workers=workers)
        results.append(sorted(sorted(m.message_id for m in t.messages) for t in ms.threads()))
        store.close()
    assert results[0] == results[1] == results[2]
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    own: list[str] = []
    for raw in read_mbox(example):
        msg = email.message_from_bytes(raw.data, policy=email_policy.compat32)
        mid = str(msg["Message-ID"]).strip().strip("<>")
        own.append(mid)
        refs = str(msg.get("References", "")) + " " + str(msg.get("In-Reply-To", ""))
        for ref in refs.replace("<", " ").replace(">", " ").split():
            if "@" in ref:
                parent[find(ref)] = find(mid)
    groups: dict[str, list[str]] = {}
    for mid in own:
        groups.setdefault(find(mid), []).append(mid)
    reference = sorted(sorted(g) for g in groups.values())
    assert results[0] == reference
