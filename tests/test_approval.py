"""Approval by email, the pure parts: the token, reading a moderator's answer, judging it, expiry,
the config keys and the request email built from templates/."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from bridge.compose.approval_email import TOKEN_HEADER, ApprovalItem, Envelope, build_approval_mail
from bridge.compose.relay_email import RelaySettings
from bridge.config.policy import read_approval
from bridge.config.reader import Section
from bridge.decide.approval import (
    TOKEN_LENGTH,
    Answer,
    ApprovalSettings,
    RequestState,
    auth_failure,
    evidence_lines,
    find_tokens,
    judge_answer,
    make_token,
    plus_address,
    read_answer,
    read_verdict,
    request_message_id,
    subject_tag,
)
from bridge.stages.approval import ApprovalReport, run_approval
from bridge.store.approvals import add_answer
from bridge.store.db import Store
from bridge.store.posts import Candidate, hold

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
KEY = b"k" * 32
TOKEN = make_token(KEY, "post", "q1@example.org")
MODS = frozenset({"owner@lists.example.org"})


def test_the_token_is_hex_of_fixed_length_and_depends_on_key_kind_and_item() -> None:
    assert len(TOKEN) == TOKEN_LENGTH and int(TOKEN, 16) >= 0
    assert make_token(KEY, "post", "q1@example.org") == TOKEN  # stable: a re-read finds it
    others = {make_token(b"x" * 32, "post", "q1@example.org"), make_token(KEY, "reply", "q1@example.org"),
              make_token(KEY, "post", "q2@example.org")}
    assert TOKEN not in others and len(others) == 3


def test_tokens_are_found_in_subject_plus_address_and_the_request_id_answered() -> None:
    assert find_tokens(f"Re: Approve post to X? Koha {subject_tag(TOKEN)}", (), ()) == [TOKEN]
    assert find_tokens("Re: Approve", [plus_address("bridge@bridge.example.net", TOKEN)], ()) == [TOKEN]
    request_id = request_message_id(TOKEN, "1a2b", "bridge.example.net")
    assert find_tokens("Re: something else", (), [request_id]) == [TOKEN]
    assert find_tokens(f"[LSB-APPROVAL:{TOKEN.upper()}]", (), ()) == [TOKEN]  # any case
    assert find_tokens("[lsb-approval:1234] too short", (), ["lsb-approval.zz@x"]) == []


@pytest.mark.parametrize(("text", "verdict"), [
    ("Approve", "approve"),
    ("approve.\n\nThanks", "approve"),
    ("  REJECT -- spam\n", "reject"),
    ("\n\n**Approve**", "approve"),
    ("On Tue, 1 Dec 2026, Bridge wrote:\n> reply approve or reject\n> approve\n\nReject", "reject"),
    ("Reject\n\nOn Tue, 1 Dec 2026, Bridge wrote:\n> approve   post it", "reject"),
    ("> approve\n> quoted only", ""),
    ("I approve", ""),  # the first word must be the verdict
    ("Approved!", ""),  # only the two words; anything else is ignored, not guessed
    ("", ""),
])
def test_the_verdict_is_the_first_word_with_quoted_text_ignored(text: str, verdict: str) -> None:
    assert read_verdict(text) == verdict


@pytest.mark.parametrize(("results", "failure"), [
    ([], ""),
    (["mx.example.net; dkim=pass header.d=example.org; spf=pass; dmarc=pass"], ""),
    (["mx.example.net; dmarc=fail (p=none) header.from=example.org"], "DMARC failed"),
    (["mx.example.net; dkim=fail; spf=pass"], "DKIM failed"),
    (["mx.example.net; spf=fail smtp.mailfrom=example.org"], "SPF failed"),
    (["mx.example.net; spf=fail; dkim=pass header.d=example.org"], ""),  # DKIM alone is enough
])
def test_authentication_results_count_only_when_they_say_fail(results: list[str], failure: str) -> None:
    assert auth_failure(results).startswith(failure) and bool(auth_failure(results)) == bool(failure)


def answer_bytes(*, sender: str = "Olive Owner <owner@lists.example.org>", body: str = "Approve\r\n",
                 subject: str = f"Re: Approve post to X? Koha {subject_tag(TOKEN)}",
                 extra: str = "") -> bytes:
    return (f"Message-ID: <ans1@lists.example.org>\r\nFrom: {sender}\r\n"
            f"To: bridge@bridge.example.net\r\nSubject: {subject}\r\n{extra}"
            f"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n{body}").encode()


def test_read_answer_takes_from_as_a_plain_addr_spec_and_the_first_word() -> None:
    got = read_answer(answer_bytes(body="approve\r\n\r\n> reject this\r\n"))
    assert got == Answer("ans1@lists.example.org", TOKEN, "owner@lists.example.org", "approve")


def test_an_html_only_answer_is_read_from_its_text() -> None:
    html = ("<div dir=\"ltr\">Reject</div><div class=\"quote\"><blockquote>approve&nbsp; post it"
            "</blockquote></div>")
    raw = answer_bytes(body=html, extra="Content-Type: text/html; charset=utf-8\r\n")
    assert read_answer(raw).verdict == "reject"


def test_several_from_addresses_are_no_identity() -> None:
    got = read_answer(answer_bytes(sender="owner@lists.example.org, eve@evil.example"))
    assert got.from_address == ""


def test_a_crafted_from_is_no_identity() -> None:
    got = read_answer(answer_bytes(sender="owner@lists.example.org)<eve@evil.example>"))
    assert got.from_address != "owner@lists.example.org"


def test_auto_replies_and_failed_authentication_are_problems() -> None:
    assert "automatic" in read_answer(answer_bytes(extra="Auto-Submitted: auto-replied\r\n")).problem
    failed = read_answer(answer_bytes(extra="Authentication-Results: mx; dmarc=fail\r\n"))
    assert "DMARC" in failed.problem


def test_an_encoded_subject_still_carries_its_token() -> None:
    encoded = base64.b64encode(f"Re: Cómo {subject_tag(TOKEN)}".encode()).decode()
    subject = f"=?utf-8?b?{encoded}?="
    assert read_answer(answer_bytes(subject=subject)).token == TOKEN


REQUEST = RequestState(TOKEN, "post", "q1@example.org", "open", T0 + timedelta(days=3))
GOOD = Answer("a@x", TOKEN, "owner@lists.example.org", "approve")


@pytest.mark.parametrize(("answer", "state", "action", "reason"), [
    (GOOD, REQUEST, "approve", "approved by owner@lists.example.org by email"),
    (Answer("a@x", TOKEN, "owner@lists.example.org", "reject"), REQUEST, "reject", "rejected by"),
    (Answer("a@x", TOKEN, "eve@evil.example", "approve"), REQUEST, "ignore", "not from a moderator"),
    (Answer("a@x", TOKEN, "", "approve"), REQUEST, "ignore", "not from a moderator"),
    (GOOD, None, "ignore", "no request has this token"),
    (Answer("a@x", TOKEN, "owner@lists.example.org", ""), REQUEST, "ignore", "the first word"),
    (Answer("a@x", TOKEN, "owner@lists.example.org", "approve", "DMARC failed"), REQUEST, "ignore",
     "DMARC failed"),
    (GOOD, RequestState(TOKEN, "post", "q1", "rejected", REQUEST.expires_at), "ignore", "already rejected"),
    (GOOD, RequestState(TOKEN, "post", "q1", "open", T0), "ignore", "expired"),
])
def test_judge_answer(answer: Answer, state: RequestState | None, action: str, reason: str) -> None:
    outcome = judge_answer(answer, state, MODS, T0 + timedelta(hours=1))
    assert outcome.action == action and reason in outcome.reason


def test_a_held_rows_reason_becomes_the_evidence_lines_the_moderators_read() -> None:
    assert evidence_lines("moderation: MACHINE_MAIL=-4.0, QUESTION=+3.0; approval expired: x") == (
        "evidence: MACHINE_MAIL=-4.0", "evidence: QUESTION=+3.0", "approval expired: x")
    assert evidence_lines("mass-new guard: 7 threads were already due") == (
        "mass-new guard: 7 threads were already due",)
    assert evidence_lines("") == ()
    assert evidence_lines("moderation: SCAM=-4") == (
        "evidence: SCAM=-4 (advance fee, inheritance, lottery, romance or 'can we talk' bait)",)


def read(data: dict[str, object]) -> tuple[ApprovalSettings, list[str]]:
    problems: list[str] = []
    return read_approval(Section(data, "moderation", problems)), problems


def test_config_keys_are_read_and_checked() -> None:
    cfg, problems = read({"moderators": ["Owner@Lists.example.org"], "approval": "all",
                          "approval_folder": "Approvals", "approval_expiry": "2d"})
    assert problems == [] and cfg.moderators == MODS and cfg.hold_all and cfg.enabled
    assert cfg.folder == "Approvals" and cfg.expiry == timedelta(days=2)
    _, problems = read({"moderators": ["Olive <owner@lists.example.org>"], "approval": "some"})
    assert len(problems) == 2 and "not a plain address" in problems[0]
    assert not ApprovalSettings().enabled and not ApprovalSettings().hold_all


def test_a_tag_in_the_lists_subject_cannot_make_the_answer_name_two_requests() -> None:
    other = make_token(KEY, "post", "q2@example.org")
    item = ApprovalItem("post", TOKEN, (("x", "text"),), f"Help {subject_tag(other)} please", T0, "https://l/1",
                        (), T0 + timedelta(days=1))
    raw = build_approval_mail(item, Envelope("bridge@b.example", "B", ("a@x.example",)), "m@b.example",
                              date=T0)
    subject = str(message_from_bytes(raw, policy=policy.default)["Subject"])
    assert find_tokens(f"Re: {subject}", (), ()) == [TOKEN] and "Help please" in subject


def test_the_request_email_carries_the_exact_text_link_evidence_and_how_to_answer() -> None:
    text = "Unanswered on the list: How do I renew? #sololibrarians https://lists.example.org/a/1"
    item = ApprovalItem("post", TOKEN, (("x", text), ("mastodon", "How do I renew? #lib")),
                        "[sla] How do I renew?", T0,
                        "https://lists.example.org/a/1", ("mass-new guard: 7 threads", "evidence two"),
                        T0 + timedelta(days=3))
    envelope = Envelope("bridge@bridge.example.net", "Bridge", ("a@x.example", "b@y.example"), True)
    raw = build_approval_mail(item, envelope, request_message_id(TOKEN, "n", "bridge.example.net"),
                              date=T0)
    msg = message_from_bytes(raw, policy=policy.default)
    assert subject_tag(TOKEN) in str(msg["Subject"]) and "How do I renew?" in str(msg["Subject"])
    assert [a.addr_spec for a in msg["To"].addresses] == ["a@x.example", "b@y.example"]
    assert msg["Reply-To"].addresses[0].addr_spec == f"bridge+lsb-{TOKEN}@bridge.example.net"
    assert msg["Auto-Submitted"] == "auto-generated" and msg[TOKEN_HEADER] == TOKEN
    body = msg.get_content().replace("\r\n", "\n")
    assert f"on X:\n----\n{text}\n----" in body and "Thread: https://lists.example.org/a/1" in body
    assert "on Mastodon:\n----\nHow do I renew? #lib\n----" in body
    assert "Approve post to X, Mastodon?" in str(msg["Subject"])
    assert "- mass-new guard: 7 threads\n- evidence two" in body
    assert "approve" in body and "reject" in body and "2026-11-27 09:00 UTC" in body


def test_an_idle_approval_stage_takes_no_write_lock(tmp_path: Path) -> None:
    """The stage runs every cycle: with nothing to apply, expire, close or send it only reads."""
    store = Store.open(tmp_path / "b.sqlite3")
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    relay = RelaySettings(from_address="bridge@b.example", list_address="list@l.example",
                          admin_contact="admin@b.example")
    report = run_approval(store, None, ApprovalSettings(moderators=MODS), relay, KEY, T0)
    assert report == ApprovalReport()
    assert statements and not [s for s in statements if s.upper().startswith(("BEGIN", "INSERT",
                                                                               "UPDATE"))]
    store.close()


def test_an_answer_that_arrived_before_the_expiry_counts_when_applied_after_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    relay = RelaySettings(from_address="bridge@b.example", list_address="list@l.example",
                          admin_contact="admin@b.example")
    settings = ApprovalSettings(moderators=MODS, expiry=timedelta(hours=1))
    token = make_token(KEY, "post", "q1@example.org")
    hold(store, [Candidate("q1@example.org", None, "text", "https://l/1", False)], "held", T0)
    run_approval(store, None, settings, relay, KEY, T0)  # the request (not sent: no SMTP here)
    with store.transaction() as conn:  # ingest stores the answer a minute before the expiry
        add_answer(conn, Answer("a@x", token, "owner@lists.example.org", "approve"),
                   T0 + timedelta(minutes=59))
    report = run_approval(store, None, settings, relay, KEY, T0 + timedelta(minutes=70))
    assert report.applied == 1 and report.released == ["q1@example.org"] and report.expired == 0
    store.close()
