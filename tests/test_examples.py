"""The demo mbox (examples/sololibrarians.mbox) and the bench corpus generator keep their promises.

The demo backtest relies on these facts (which questions are unanswered, how old they are, which
messages must never be published), so they are pinned here with the stdlib parser only.
"""

from __future__ import annotations

import email
import email.policy
import importlib.util
import mailbox
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
MBOX = ROOT / "examples" / "sololibrarians.mbox"
LIST_ADDR = "sla-dsol@googlegroups.com"
FOOTER = (
    "-- \nYou received this message because you are subscribed to the Google Groups "
    '"SLA Solo Librarians" group.\nTo unsubscribe from this group and stop receiving emails '
    "from it, send an email to sla-dsol+unsubscribe@googlegroups.com.\n"
)

# Questions that got no reply of any kind (publishable or not).
NO_REPLY_QUESTIONS = {
    "OCLC holdings not updating after batch load",
    "Cataloguing a donated collection of exhibition catalogues",
    "Archiving the email of departing executives",
    "Our board is asking for the library's ROI - how do you calculate it?",
    "[no-tweet] Salary survey for solo librarians in law firms?",
    "Patron wants their search request records deleted",
    "Koha: error when renewing a serial subscription",
    "Retention schedule for the library's own records?",
}
WEBINAR = "Webinar: COUNTER Release 5.1 for one-person libraries, 18 November"
ANNOUNCEMENTS = {
    "[ANN] Solo Librarians Division virtual fall meetup, Thursday 12 November",
    "JOB: Solo Librarian (0.6 FTE), Fenwick Valley Regional Hospital",
    "The Solo Librarian - November 2026 issue",
    WEBINAR,
    "CFP: Solo Librarians track at the 2027 annual conference",
}
SPAM_SUBJECT = "Get your library journal indexed in 48 hours!!! GUARANTEED"
PLUS_ONE_ONLY = "COUNTER 5: TR_J3 or TR_J1 for the board report?"
OOO_ONLY = "Weeding policy template for a small association library"
SOLVED = 'EZproxy: "host not found" after adding the new vendor stanza'
NOT_YET_DUE = "Retention schedule for the library's own records?"
FAST_ANSWERS = {
    "Koha serials: prediction pattern for an irregular quarterly?",
    "ILL for a hospital library without DOCLINE?",
    "Copyright for course packs: scanning chapters for a 12-student class",
    'Director wants "usage stats for everything" by Friday',
    "Zotero or EndNote for hospital staff?",
}
MISSING_PARENT = "<CAEq7h2vK9xWm3@mail.example.com>"
ALLOWED_DOMAIN = re.compile(r"(^|\.)(example\.(org|com|net)|googlegroups\.com)$")


def load() -> list[Message]:
    return list(mailbox.mbox(MBOX, create=False))


def clean_id(value: str) -> str:
    return value.strip().strip("<>").strip()


def parent_of(msg: Message) -> str | None:
    """In-Reply-To (angle brackets or not), else the last References id."""
    if msg["In-Reply-To"]:
        return clean_id(msg["In-Reply-To"])
    refs = (msg["References"] or "").split()
    return clean_id(refs[-1]) if refs else None


def date_of(msg: Message) -> datetime:
    return parsedate_to_datetime(msg["Date"]).astimezone(UTC)


def texts(msg: Message) -> Iterator[tuple[str, str]]:
    """(content type, decoded text) of every text part."""
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            raw = part.get_payload(decode=True)
            assert isinstance(raw, bytes)
            yield part.get_content_type(), raw.decode(part.get_content_charset() or "ascii")


def own_text(msg: Message) -> str:
    """The first text part, without the list footer and without any quoted block."""
    text = next(texts(msg))[1].split("\n-- \nYou received")[0]
    return re.split(r"(?m)^(On .* wrote:|_{20,})$", text)[0]


def author(msg: Message) -> str:
    header = msg["X-Original-From"] or msg["From"]
    return getaddresses([header])[0][1].lower()


@pytest.fixture(scope="module")
def msgs() -> list[Message]:
    return load()


@pytest.fixture(scope="module")
def by_id(msgs: list[Message]) -> dict[str, Message]:
    return {clean_id(m["Message-ID"]): m for m in msgs}


@pytest.fixture(scope="module")
def roots(msgs: list[Message]) -> dict[str, Message]:
    return {m["Subject"]: m for m in msgs if parent_of(m) is None}


def replies_to(root: Message, msgs: list[Message]) -> list[Message]:
    """Every message below root, through parent links (date order)."""
    ids, out = {clean_id(root["Message-ID"])}, []
    for m in sorted(msgs, key=date_of):
        if parent_of(m) in ids:
            ids.add(clean_id(m["Message-ID"]))
            out.append(m)
    return out


def test_mbox_has_one_separator_per_message_and_escapes_from_lines(msgs: list[Message]) -> None:
    raw = MBOX.read_bytes()
    separators = re.findall(rb"(?m)^From \S+@\S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d 2026$", raw)
    assert len(separators) == len(re.findall(rb"(?m)^From ", raw)) == len(msgs)
    assert 40 <= len(msgs) <= 50
    assert b"\n>From the chair: three years" in raw  # a body line "From ..." escaped as ">From"


def test_every_message_carries_google_groups_headers(msgs: list[Message]) -> None:
    for m in msgs:
        for name in ("Message-ID", "Date", "From", "Subject", "Mailing-list", "List-Post"):
            assert m[name], (name, m["Subject"])
        assert m["To"] == LIST_ADDR
        assert m["List-Id"] == "<sla-dsol.googlegroups.com>"
        assert m["List-Post"].endswith(f"<mailto:{LIST_ADDR}>")
        assert m["Mailing-list"].startswith(f"list {LIST_ADDR};")


def test_message_ids_are_unique_and_bracketed(msgs: list[Message]) -> None:
    ids = [m["Message-ID"] for m in msgs]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", i) for i in ids)


def test_dates_run_from_2_to_25_november_2026_in_file_order(msgs: list[Message]) -> None:
    dates = [date_of(m) for m in msgs]
    assert dates == sorted(dates)
    assert dates[0] >= datetime(2026, 11, 2, tzinfo=UTC)
    assert dates[-1].date() == datetime(2026, 11, 25).date()
    assert all(m["Date"].startswith(f"{d:%a}, ") for m, d in
               zip(msgs, (parsedate_to_datetime(m["Date"]) for m in msgs), strict=True))


def test_every_parent_resolves_except_the_one_missing_from_the_archive(
        msgs: list[Message], by_id: dict[str, Message]) -> None:
    unresolved = [m for m in msgs if parent_of(m) and parent_of(m) not in by_id]
    assert [m["Subject"] for m in unresolved] == ["Re: Discovery layer on a shoestring"]
    assert unresolved[0]["In-Reply-To"] == MISSING_PARENT
    for m in msgs:
        for ref in (m["References"] or "").split():
            assert clean_id(ref) in by_id or ref == MISSING_PARENT, (ref, m["Subject"])
        if parent_of(m) in by_id:
            assert date_of(by_id[parent_of(m) or ""]) < date_of(m)
    orphan_thread = [m for m in msgs if m["Subject"] == "Re: Discovery layer on a shoestring"]
    assert len(orphan_thread) == 2  # the orphan, and a reply that does resolve to it


def test_web_front_end_reply_has_a_bare_in_reply_to_and_no_references(
        msgs: list[Message], by_id: dict[str, Message]) -> None:
    bare = [m for m in msgs if m["In-Reply-To"] and not m["In-Reply-To"].startswith("<")]
    assert len(bare) == 1
    assert bare[0]["References"] is None
    assert by_id[bare[0]["In-Reply-To"]]["Subject"].startswith("Westlaw vs Lexis")


def test_dmarc_via_rewrite_keeps_the_author_in_reply_to_and_x_original_from(
        msgs: list[Message]) -> None:
    via = [m for m in msgs if " via SLA Solo Librarians" in m["From"]]
    assert len(via) == 1
    assert getaddresses([via[0]["From"]])[0][1] == LIST_ADDR
    person = "oliver.grant@kestrel-energy.example.com"
    assert getaddresses([via[0]["Reply-To"]])[0] == ("Oliver Grant", person)
    assert getaddresses([via[0]["X-Original-From"]])[0] == ("Oliver Grant", person)


def test_a_reply_carries_the_list_tag_before_re(msgs: list[Message]) -> None:
    tagged = [m["Subject"] for m in msgs if m["Subject"].startswith("[sla-dsol] Re: ")]
    assert len(tagged) == 2
    assert all(parent_of(m) for m in msgs if m["Subject"] in tagged)


def test_roots_without_any_reply_are_exactly_the_hanging_questions_and_announcements(
        msgs: list[Message], roots: dict[str, Message]) -> None:
    lonely = {s for s, r in roots.items() if not replies_to(r, msgs)}
    assert lonely == NO_REPLY_QUESTIONS | (ANNOUNCEMENTS - {WEBINAR}) | {SPAM_SUBJECT}
    assert roots.keys() >= ANNOUNCEMENTS
    assert [r["Subject"] for r in replies_to(roots[WEBINAR], msgs)] == [f"Re: {WEBINAR}"]


def test_hanging_questions_span_due_and_not_yet_due_ages(roots: dict[str, Message],
                                                         msgs: list[Message]) -> None:
    """Backtest at the last message, 48 h threshold, 7 day max age."""
    now = max(date_of(m) for m in msgs)
    unanswered = NO_REPLY_QUESTIONS | {PLUS_ONE_ONLY, OOO_ONLY}
    ages = {s: now - date_of(roots[s]) for s in unanswered}
    assert [s for s, a in ages.items() if a < timedelta(hours=48)] == [NOT_YET_DUE]
    assert sum(a >= timedelta(days=2) for a in ages.values()) >= 5
    due = {s for s, a in ages.items() if timedelta(hours=48) <= a <= timedelta(days=7)}
    assert len(due) >= 5  # incl. the +1, the out-of-office, [no-tweet] and X-No-Archive ones
    assert any(a > timedelta(days=7) for a in ages.values())  # too old at the end
    assert len({date_of(roots[s]).date() for s in NO_REPLY_QUESTIONS}) >= 6


def test_some_hanging_questions_have_no_question_mark(roots: dict[str, Message]) -> None:
    plain = [s for s in NO_REPLY_QUESTIONS if "?" not in s + own_text(roots[s])]
    assert len(plain) >= 2
    assert all("I get the following error when" in own_text(roots[s]) for s in plain)
    assert all("below" in own_text(roots[s]) for s in plain)


def test_the_plus_one_question_only_has_me_too_replies(roots: dict[str, Message],
                                                       msgs: list[Message]) -> None:
    replies = replies_to(roots[PLUS_ONE_ONLY], msgs)
    assert len(replies) == 2
    for r in replies:
        body = own_text(r).lower()
        assert ("+1" in body or "me too" in body) and len(body) < 150


def test_the_out_of_office_reply_is_marked_and_is_the_only_reply(
        roots: dict[str, Message], msgs: list[Message]) -> None:
    auto = [m for m in msgs if m["Auto-Submitted"]]
    assert len(auto) == 1 and auto[0]["Auto-Submitted"] == "auto-replied"
    assert auto[0]["Subject"].startswith("Out of Office: ")
    assert replies_to(roots[OOO_ONLY], msgs) == auto


def test_the_solved_question_is_answered_by_its_own_asker(roots: dict[str, Message],
                                                          msgs: list[Message]) -> None:
    replies = replies_to(roots[SOLVED], msgs)
    assert len(replies) == 1
    assert replies[0]["Subject"].startswith("[SOLVED] Re: ")
    assert author(replies[0]) == author(roots[SOLVED])
    assert "Never mind, found it" in own_text(replies[0])


def test_fast_answers_come_from_someone_else_within_hours(roots: dict[str, Message],
                                                          msgs: list[Message]) -> None:
    for subject in FAST_ANSWERS:
        first = replies_to(roots[subject], msgs)[0]
        assert author(first) != author(roots[subject])
        assert date_of(first) - date_of(roots[subject]) <= timedelta(hours=10)
        assert first["In-Reply-To"] == roots[subject]["Message-ID"]
        assert roots[subject]["Message-ID"] in first["References"]


def test_exactly_one_message_each_is_no_tweet_no_archive_and_spam(msgs: list[Message]) -> None:
    assert [m["Subject"] for m in msgs if "[no-tweet]" in m["Subject"]] == [
        "[no-tweet] Salary survey for solo librarians in law firms?"]
    assert [m["Subject"] for m in msgs if m["X-No-Archive"] == "yes"] == [
        "Patron wants their search request records deleted"]
    assert [m["Subject"] for m in msgs if m["X-Spam-Flag"] == "YES"] == [SPAM_SUBJECT]


def test_mime_variety_html_only_alternative_and_windows_1252_qp(msgs: list[Message]) -> None:
    html_only = [m for m in msgs if m.get_content_type() == "text/html"]
    assert [m["Subject"] for m in html_only] == [
        "Our board is asking for the library's ROI - how do you calculate it?"]
    alts = [m for m in msgs if m.get_content_type() == "multipart/alternative"]
    assert alts
    for m in alts:
        assert [p.get_content_type() for p in m.walk()][1:] == ["text/plain", "text/html"]
    legacy = [m for m in msgs if m.get_content_charset() in ("windows-1252", "iso-8859-1")]
    assert len(legacy) == 1 and legacy[0]["Content-Transfer-Encoding"] == "quoted-printable"
    assert "donor’s annotations" in own_text(legacy[0])
    assert "Hélène Marchetti" in own_text(legacy[0])
    assert str(email.header.make_header(email.header.decode_header(legacy[0]["From"]))).startswith(
        "Hélène Marchetti")


def test_every_message_ends_with_the_google_groups_footer(msgs: list[Message]) -> None:
    for m in msgs:
        for ctype, text in texts(m):
            if ctype == "text/plain":
                assert FOOTER in text and text.rstrip().endswith(".")
                assert text.rindex(FOOTER) > len(text) - 400, m["Subject"]
            else:
                assert "You received this message because you are subscribed" in text


def test_replies_quote_their_parent_with_on_wrote_lines(msgs: list[Message]) -> None:
    quoting = [m for m in msgs if re.search(r"(?m)^On .* wrote:\n> ", next(texts(m))[1])]
    assert len(quoting) >= 5


def test_a_question_signature_carries_a_phone_number_and_an_email(
        roots: dict[str, Message]) -> None:
    body = own_text(roots["OCLC holdings not updating after batch load"])
    assert re.search(r"555-01\d\d", body)
    assert "adeshpande@st-columba-hospital.example.org" in body


def test_only_fictional_addresses_hosts_and_phone_numbers() -> None:
    separators = re.findall(r"(?m)^From .*$", MBOX.read_bytes().decode("utf-8"))
    parts = [f"{k}: {v}" for m in load() for k, v in m.items()]  # headers, unfolded
    parts += [body for m in load() for _, body in texts(m)]  # decoded: no QP soft breaks
    text = "\n".join(separators + parts)
    for domain in re.findall(r"[\w.+=-]+@([\w-]+(?:\.[\w-]+)+)", text):
        assert ALLOWED_DOMAIN.search(domain.lower()), domain
    for host in re.findall(r"https?://([\w.-]+)", text):
        assert host == "groups.google.com" or ALLOWED_DOMAIN.search(host), host
    for phone in re.findall(r"\b\d{3}-\d{4}\b", text):
        assert re.fullmatch(r"555-01\d\d", phone), phone
    for ip in re.findall(r"\[(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\]", text):  # Received
        assert ip.startswith(("192.0.2.", "198.51.100.", "203.0.113.")), ip


def test_every_message_parses_cleanly_under_both_stdlib_policies() -> None:
    for raw in re.split(rb"(?m)^From \S+@\S+ .*2026\n", MBOX.read_bytes())[1:]:
        for policy in (email.policy.compat32, email.policy.default):
            msg = email.message_from_bytes(raw, policy=policy)
            assert all(not part.defects for part in msg.walk()), msg["Subject"]


def load_script(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_generator_script_reproduces_the_committed_mbox() -> None:
    maker = load_script("make_sololibrarians", ROOT / "examples" / "make_sololibrarians.py")
    assert maker.build() == MBOX.read_bytes()


# --- bench/corpus.py -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus() -> ModuleType:
    return load_script("bench_corpus", ROOT / "bench" / "corpus.py")


@pytest.fixture(scope="module")
def bench_msgs(corpus: ModuleType) -> list[Message]:
    return [email.message_from_bytes(raw) for raw in corpus.generate(1500, seed=7)]


def test_bench_corpus_is_deterministic_per_seed(corpus: ModuleType) -> None:
    first = b"".join(corpus.generate(120, seed=3))
    assert first == b"".join(corpus.generate(120, seed=3))
    assert first != b"".join(corpus.generate(120, seed=4))
    assert len(list(corpus.generate(120, seed=3))) == 120


def test_bench_threads_resolve_to_earlier_messages_in_date_order(
        corpus: ModuleType, bench_msgs: list[Message]) -> None:
    seen: set[str] = set()
    dates = [date_of(m) for m in bench_msgs]
    assert dates == sorted(dates)
    assert dates[-1] <= corpus.DEFAULT_END
    assert dates[0] < corpus.DEFAULT_END - timedelta(days=365 * 2.9)
    for m in bench_msgs:
        parent = parent_of(m)
        assert parent is None or parent in seen, m["Subject"]
        refs = [clean_id(r) for r in (m["References"] or "").split()]
        assert set(refs) <= seen
        assert clean_id(m["Message-ID"]) not in seen
        seen.add(clean_id(m["Message-ID"]))


def test_bench_corpus_has_the_promised_mix(bench_msgs: list[Message]) -> None:
    n = len(bench_msgs)
    kinds = [{p.get_content_type() for p in m.walk()} for m in bench_msgs]
    assert 0.3 < sum("multipart/alternative" in k for k in kinds) / n < 0.5
    assert 0.02 < sum("application/pdf" in k for k in kinds) / n < 0.09
    children = {parent_of(m) for m in bench_msgs}
    roots = [m for m in bench_msgs if parent_of(m) is None]
    lonely = [r for r in roots if clean_id(r["Message-ID"]) not in children]
    assert 0.12 < len(lonely) / len(roots) < 0.3
    charsets = {p.get_content_charset() for m in bench_msgs for p in m.walk()}
    assert {"utf-8", "iso-8859-1", "windows-1252", "us-ascii"} <= charsets
    ctes = {p["Content-Transfer-Encoding"] for m in bench_msgs for p in m.walk()}
    assert {"quoted-printable", "base64", "8bit", "7bit"} <= ctes
    assert any(m["Subject"].startswith("[Bench-List] Re: ") for m in bench_msgs)
    assert any(m["In-Reply-To"] and not m["References"] for m in bench_msgs)
    for m in bench_msgs[:200]:
        assert 3 <= len(m.get_all("Received") or []) <= 6
        assert m["DKIM-Signature"] and m["List-Id"] and m["List-Post"] and m["Archived-At"]


def test_bench_cli_writes_a_readable_mbox_and_a_summary(
        corpus: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.mbox"
    assert corpus.main(["--messages", "300", "--out", str(out), "--end", "2025-06-30"]) == 0
    box = list(mailbox.mbox(out, create=False))
    assert len(box) == 300
    assert max(date_of(m) for m in box) <= datetime(2025, 6, 30, 18, tzinfo=UTC)
    summary = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"messages=300 threads=\d+ bytes={out.stat().st_size} out=.*", summary)
