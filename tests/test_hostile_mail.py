"""Hostile mail never stops a pass: each message that fails anywhere is recorded and skipped,
the batch's other messages are stored and the cursor moves (issue 13, the mail side)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.adapters.archive import read_maildir, read_mbox
from bridge.cli.main import main
from bridge.mail import headers as h
from bridge.mail.parse import HASH_ID_DOMAIN, parse_mail
from bridge.model import Cursor, Mail, RawMail
from bridge.stages.ingest import IngestPolicy, ingest_archive, store_batch
from bridge.store.db import Store
from bridge.store.mail import MailStore

GOOD_DATE = "Mon, 2 Nov 2026 09:15:00 +0000"


def msg(mid: str, subject: str = "a question", date: str | None = GOOD_DATE, extra: str = "") -> bytes:
    date_line = f"Date: {date}\n" if date else ""
    return (f"Message-ID: {mid}\nFrom: P <p@example.org>\nSubject: {subject}\n{date_line}{extra}"
            f"\nbody of {mid}\n").encode()


def good(i: int) -> RawMail:
    return RawMail(msg(f"<good{i}@example.org>"), f"test #{i}")


def ingest(raws: list[RawMail]) -> tuple[Store, MailStore, dict[str, int]]:
    store = Store.open(":memory:")
    ms = MailStore(store)
    report = store_batch(ms, raws, IngestPolicy(), Cursor("INBOX", 7, 99))
    return store, ms, report.as_dict()


HOSTILE_DATES = {
    "date_after_9999_12_17": RawMail(msg("<d1@example.org>", date="Sat, 25 Dec 9999 00:00:00 +0000"), "d1"),
    "from_line_9999_no_date": RawMail(msg("<d2@example.org>", date=None), "d2",
                                      internal_date=datetime(9999, 12, 30, tzinfo=UTC)),
    "year_1_with_re": RawMail(msg("<d3@example.org>", "Re: a question", date=None), "d3",
                              internal_date=datetime(1, 1, 1, tzinfo=UTC)),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_DATES))
def test_absurd_dates_do_not_stop_the_batch(case: str) -> None:
    """Before: OverflowError in the subject-fallback window, the batch rolled back, cursor stuck."""
    store, ms, report = ingest([good(1), HOSTILE_DATES[case], good(2)])
    assert report["messages_stored"] == 3
    assert store.get_cursor("INBOX") == Cursor("INBOX", 7, 99)
    hostile = ms.get_mail(HOSTILE_DATES[case].data.split(b"<")[1].split(b">")[0].decode())
    assert hostile is not None and 1980 <= hostile.date.year < 2200


def test_an_encoded_word_decoding_to_a_lone_surrogate_is_stored_with_a_replacement() -> None:
    """Before: UnicodeEncodeError at the SQLite insert, the whole batch lost."""
    hostile = RawMail(msg("<s@example.org>", "=?utf-7?q?+2D8-?= help"), "s")
    _, ms, report = ingest([good(1), hostile, good(2)])
    assert report["messages_stored"] == 3
    stored = ms.get_mail("s@example.org")
    assert stored is not None and stored.subject == "\ufffd help"
    assert h.scrub_text("a\ud83d\ude00b\udc80") == "a\U0001f600b\ufffd"  # a valid pair is kept


def test_a_failure_while_storing_one_message_is_recorded_and_the_rest_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any failure in threading or storing: that message rolls back to nothing and becomes a
    problem with its reason; the batch's other messages and the cursor commit."""
    import bridge.store.mail as store_mail

    real = store_mail.subject_links

    def explode(mail: Mail, window: object) -> object:
        if mail.message_id == "bad@example.org":
            raise RuntimeError("threading bug")
        return real(mail, window)  # type: ignore[arg-type]

    monkeypatch.setattr(store_mail, "subject_links", explode)
    bad = RawMail(msg("<bad@example.org>", extra="References: <ghost@example.org>\n"), "imap uid 5")
    store, ms, report = ingest([good(1), bad, good(2)])
    assert (report["messages_stored"], report["problems"]) == (2, 1)
    (problem,) = store.problems()
    assert problem.source == "imap uid 5" and problem.message_id == "bad@example.org"
    assert problem.reason == "not stored: RuntimeError: threading bug"
    assert ms.get_mail("bad@example.org") is None
    ghost = store.conn.execute("SELECT 1 FROM id_threads WHERE ref_id = 'ghost@example.org'")
    assert ghost.fetchone() is None  # nothing of the failed message is left behind
    assert store.get_cursor("INBOX") == Cursor("INBOX", 7, 99)


@pytest.mark.parametrize("bad_id", ["noat", "<@>", "<a@b>junk", "<@example.org>", "<x@>"])
def test_an_invalid_message_id_is_treated_as_absent(bad_id: str) -> None:
    """Two different messages with the same invalid id must not merge into one identity."""
    one, two = (parse_mail(msg(bad_id, subject))[0] for subject in ("first", "second"))
    assert not one.has_message_id and one.message_id.endswith(HASH_ID_DOMAIN)
    assert one.message_id != two.message_id
    assert h.reference_ids("<@> <q@example.org> <a@>") == ["q@example.org"]


def test_one_message_naming_many_questions_does_not_merge_their_threads() -> None:
    """Before: a References list naming N question ids merged N threads into one."""
    questions = [RawMail(msg(f"<q{i}@example.org>", f"question {i}"), f"q{i}") for i in range(5)]
    refs = " ".join(f"<q{i}@example.org>" for i in range(5))
    joiner = RawMail(msg("<j@example.org>", "Re: question 4",
                         extra=f"In-Reply-To: <q4@example.org>\nReferences: {refs}\n"), "j")
    store, ms, _ = ingest([*questions, joiner])
    threads = {t.root.message_id: sorted(m.message_id for m in t.messages) for t in ms.threads()}
    assert len(threads) == 5
    assert threads["q4@example.org"] == ["j@example.org", "q4@example.org"]
    # the ids it named elsewhere still belong to their own threads
    rows = store.conn.execute("SELECT COUNT(DISTINCT thread_id) FROM id_threads").fetchone()
    assert rows[0] == 5


def test_an_orphan_reply_still_joins_its_conversation_when_a_message_links_them() -> None:
    """Repair stays: a reply whose parent is missing joins the question once a message names both."""
    q = RawMail(msg("<q@example.org>", "koha"), "q")
    orphan = RawMail(msg("<o@example.org>", "Re: koha", extra="In-Reply-To: <missing@example.org>\n"), "o")
    link = RawMail(msg("<l@example.org>", "Re: koha",
                       extra="References: <q@example.org> <missing@example.org>\n"), "l")
    _, ms, _ = ingest([q, orphan, link])
    assert [len(t.messages) for t in ms.threads()] == [3]


def test_whitespace_only_messages_in_an_mbox_are_recorded(tmp_path: Path) -> None:
    """Before: a From_ line followed by blank lines vanished without a problem row."""
    path = tmp_path / "list.mbox"
    sep = b"From x@example.org Mon Nov  2 09:15:00 2026\n"
    path.write_bytes(sep + msg("<a@example.org>") + b"\n" + sep + b"\n  \n\n" + sep + msg("<b@example.org>"))
    raws = list(read_mbox(path))
    assert len(raws) == 3
    store = Store.open(":memory:")
    report = ingest_archive(MailStore(store), raws, IngestPolicy())
    assert (report.stored, report.problems) == (2, 1)
    assert store.problems()[0].reason == "empty message"


def test_maildir_files_that_are_not_read_are_recorded_with_the_reason_apart(tmp_path: Path) -> None:
    """Stray files in a Maildir tree and dangling links are problems; the reason has its own field
    (before: written into the source as "(unreadable: ...)" and parsed back out)."""
    (tmp_path / "cur").mkdir()
    (tmp_path / "cur" / "1:2,S").write_bytes(msg("<m@example.org>"))
    os.symlink(tmp_path / "nowhere", tmp_path / "cur" / "2:2,S")
    (tmp_path / "stray.eml").write_bytes(msg("<stray@example.org>"))
    store = Store.open(":memory:")
    report = ingest_archive(MailStore(store), read_maildir(tmp_path), IngestPolicy())
    assert (report.stored, report.problems) == (1, 2)
    problems = {p.source: p.reason for p in store.problems()}
    assert problems == {
        f"maildir:{tmp_path / 'cur' / '2:2,S'}": "not a regular file; not read",
        f"maildir:{tmp_path / 'stray.eml'}": "outside cur/ and new/ in a Maildir tree; not read",
    }


def test_a_maildir_file_name_that_is_not_utf8_is_stored(tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()
    name = os.path.join(os.fsencode(tmp_path / "new"), b"\xff\xfe-1")
    with open(name, "wb") as handle:
        handle.write(msg("<n@example.org>"))
    store = Store.open(":memory:")
    report = ingest_archive(MailStore(store), read_maildir(tmp_path), IngestPolicy())
    assert report.stored == 1


@pytest.mark.parametrize(("flag", "make"), [("--mbox", "dir"), ("--maildir", "file")])
def test_an_archive_of_the_wrong_kind_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, make: str
) -> None:
    """Before: --mbox on a folder gave a traceback, --maildir on a file exited 0 having done nothing."""
    target = tmp_path / "archive"
    if make == "dir":
        target.mkdir()
    else:
        target.write_bytes(msg("<x@example.org>"))
    db = tmp_path / "state" / "b.sqlite3"
    assert main(["ingest", flag, str(target), "--db", str(db), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert ("is a folder, not an mbox file" if make == "dir" else "is a file, not a folder") in err
    assert not db.exists()


def test_a_body_that_fails_to_parse_is_recorded_and_the_message_still_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: the body silently became "" with no log and no problem row."""
    def broken(data: bytes) -> object:
        raise ValueError("broken MIME")

    import mailparser  # bridge.mail.parse imports it when the first body is parsed

    monkeypatch.setattr(mailparser, "parse_from_bytes", broken)
    store, ms, report = ingest([RawMail(msg("<b@example.org>"), "imap uid 3")])
    assert (report["messages_stored"], report["problems"]) == (1, 1)
    stored = ms.get_mail("b@example.org")
    assert stored is not None and stored.body == ""
    (problem,) = store.problems()
    assert problem.reason == "body not readable: ValueError: broken MIME"
    assert problem.message_id == "b@example.org"


def test_only_the_head_of_a_huge_body_is_cleaned() -> None:
    """A question is never megabytes long: cleaning stops at BODY_TEXT_CHARS, and a message read
    only in part keeps its full size."""
    from bridge.mail.parse import BODY_TEXT_CHARS, MESSAGE_HEAD_BYTES
    from bridge.stages.ingest import parse_raw

    line = "Why does the catalogue show every serial twice after the upgrade?\n"
    data = msg("<huge@example.org>", extra="").replace(b"body of", line.encode() * 60_000)
    (mail,) = parse_mail(data)
    assert mail.body is not None and 0 < len(mail.body) <= BODY_TEXT_CHARS
    head = RawMail(data[:MESSAGE_HEAD_BYTES], "x", size=len(data))
    assert parse_raw(head, IngestPolicy())[0].size == len(data)


def test_mail_parser_log_lines_never_reach_stderr_as_plain_text(capfd: pytest.CaptureFixture[str]) -> None:
    """mail-parser logs through the stdlib; before, logging's last-resort handler wrote its lines
    to stderr (the journal) as plain text. Now they are our (JSON, debug) events."""
    import io
    import json
    import logging

    import structlog

    import bridge.mail.parse  # noqa: F401  (installs the routing)
    from bridge.service.log import configure_logging

    ours = io.StringIO()
    configure_logging("debug", stream=ours, json=True)
    try:
        logging.getLogger("mailparser.utils").error("Failed decoding header part: x")
    finally:
        structlog.reset_defaults()
    assert capfd.readouterr().err == ""
    event = json.loads(ours.getvalue().splitlines()[-1])
    assert (event["event"], event["level"], event["message"]) == (
        "mailparser_logged", "debug", "Failed decoding header part: x")


def test_migration_moves_a_reason_out_of_legacy_problem_sources(tmp_path: Path) -> None:
    """Rows written before the reason had its own field keep only the path as their source."""
    import sqlite3
    from importlib import resources

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for entry in sorted(resources.files("bridge.store.migrations").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql") and int(entry.name[:3]) <= 8:
            conn.executescript(entry.read_text(encoding="utf-8"))
    conn.execute("INSERT INTO problems(source, reason, size, seen_at) VALUES "
                 "('maildir:/m/cur/1 (unreadable: Permission denied)', "
                 "'unreadable: Permission denied', 0, 0),"
                 "('mbox:/a (b) #1', 'empty message', 0, 0)")
    conn.execute("PRAGMA user_version = 8")
    conn.commit()
    conn.close()
    store = Store.open(path)
    assert sorted((p.source, p.reason) for p in store.problems()) == [
        ("maildir:/m/cur/1", "unreadable: Permission denied"), ("mbox:/a (b) #1", "empty message")]


def test_datetimes_are_logged_as_iso_strings_not_reprs() -> None:
    """Before: JSON log lines carried "datetime.datetime(2026, 11, 2, ...)"."""
    import io
    import json

    import structlog

    from bridge.service.log import configure_logging

    out = io.StringIO()
    configure_logging("info", stream=out, json=True)
    try:
        structlog.get_logger().info("mail_dated", date=datetime(2026, 11, 2, 9, 15, tzinfo=UTC))
    finally:
        structlog.reset_defaults()
    assert json.loads(out.getvalue())["date"] == "2026-11-02T09:15:00+00:00"


def test_header_blocks_and_values_are_bounded() -> None:
    """A megabyte Subject, thousands of fields or a huge References list are cut to what is read:
    before, "Re: " repeated 500,000 times took longer than ten minutes to normalise."""
    from bridge.mail.clean import normalise_subject
    from bridge.mail.headerblock import MAX_FIELDS, MAX_VALUE_CHARS, parse_header_block

    refs = " ".join(f"<r{i}@example.org>" for i in range(20_000))
    block = ("Subject: " + "Re: " * 100_000 + "x\nReferences: " + refs + "\n"
             + "".join(f"X-{i}: v\n" for i in range(5_000))).encode()
    headers = parse_header_block(block)
    assert len(headers.keys()) == MAX_FIELDS
    assert len(headers.get("Subject") or "") == MAX_VALUE_CHARS
    kept = h.reference_ids(headers.get("References"))
    assert kept[0] == "r0@example.org" and kept[-1] == "r19999@example.org" and len(kept) < 5_000
    assert normalise_subject("Re: " * 50_000 + "[tag] x" + " [t]" * 50_000) == ("x", True)


def test_archive_batches_are_bounded_by_bytes_not_only_count() -> None:
    """Before: 500 messages per batch whatever their size (500 x 2 MB heads = 1 GB held)."""
    from bridge.stages.ingest import batched

    raws = [RawMail(b"x" * size, f"#{i}") for i, size in enumerate([6, 6, 6, 1, 1, 20, 1])]
    assert [[r.source for r in chunk] for chunk in batched(raws, 500, max_bytes=12)] == [
        ["#0", "#1"], ["#2", "#3", "#4"], ["#5"], ["#6"]]
    assert [len(chunk) for chunk in batched(raws, 3, max_bytes=100)] == [3, 3, 1]
