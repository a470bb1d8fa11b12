"""The relay email, built purely: threading headers, From/To, subject, body, and header safety."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.compose.relay_email import (
    RelayBuildError,
    RelaySettings,
    ReplyItem,
    build_relay_mail,
    check_reply,
    fold_ids,
    parse_ids,
    relay_subject,
    thread_ids,
)
from bridge.config.policy import read_relay
from bridge.config.reader import Section
from bridge.mail.echo import EchoSettings, is_our_relay
from bridge.model import Author, Mail

KEY = b"relay-test-key"
MID = "lsb-relay.1740960000.00aa11bb22cc33dd@bridge.example.net"
WHEN = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
SETTINGS = RelaySettings("bridge@bridge.example.net", "solo@lists.example.org",
                         "Pat Admin <pat@bridge.example.net>")
BASE_HEADERS = ["from", "to", "subject", "date", "message-id", "in-reply-to", "references",
                "x-listserv-bridge", "content-type", "content-transfer-encoding", "mime-version"]


def question(subject: str = "[Solo] Cataloguing software for a one-person library?", **kw: object) -> Mail:
    fields: dict[str, object] = dict(
        message_id="q1@lists.example.org", subject=subject, subject_norm="cataloguing software",
        is_reply_subject=False, author=Author("Ann Asker", "ann@library.example.org"),
        date=datetime(2025, 3, 1, 9, 0, tzinfo=UTC), in_reply_to=None,
        references=("older@lists.example.org",))
    fields.update(kw)
    return Mail(**fields)  # type: ignore[arg-type]


def reply(name: str = "Jane Doe", username: str = "jane", text: str = "Try Koha, it is free.",
          reply_id: str = "1001") -> ReplyItem:
    return ReplyItem(reply_id, name, username, text, f"https://x.com/{username or 'i'}/status/{reply_id}",
                     datetime(2025, 3, 2, 8, 30, tzinfo=UTC))


def build(replies: list[ReplyItem], q: Mail | None = None) -> EmailMessage:
    raw = build_relay_mail(q or question(), replies, SETTINGS, MID, date=WHEN, key=KEY)
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_relay_is_threaded_under_the_question_and_sent_from_the_bridge_to_the_list() -> None:
    msg = build([reply()])
    assert msg["In-Reply-To"] == "<q1@lists.example.org>"
    assert msg["References"] == "<older@lists.example.org> <q1@lists.example.org>"
    assert msg["Message-ID"] == f"<{MID}>"
    assert msg["From"].addresses[0].addr_spec == "bridge@bridge.example.net"
    assert msg["From"].addresses[0].display_name == "Jane Doe (@jane) via Solo Librarians Bridge"
    assert str(msg["To"]) == "solo@lists.example.org"
    assert msg["Subject"] == "Re: [Solo] Cataloguing software for a one-person library?"


def test_relay_has_no_auto_submitted_and_never_names_the_list_as_sender() -> None:
    msg = build([reply()])
    assert [k.lower() for k in msg] == BASE_HEADERS
    assert "Auto-Submitted" not in msg and "Sender" not in msg and "Reply-To" not in msg


def test_body_is_utf8_plain_text_with_reply_link_question_and_admin_contact() -> None:
    msg = build([reply(name="Zoë 🌸", text="Koha ☕ works — ask me.")])
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    body = msg.get_content()
    assert "Koha ☕ works — ask me." in body and "https://x.com/jane/status/1001" in body
    assert "Zoë 🌸 (@jane) wrote on X" in body
    assert '"Cataloguing software for a one-person library?"' in body  # names the question
    assert "pat@bridge.example.net" in body and "X (Twitter)" in body


def test_several_authors_get_a_neutral_from_and_each_reply_is_attributed() -> None:
    msg = build([reply(), reply("Bob Roe", "bobroe", "LibraryThing!", "1002")])
    assert msg["From"].addresses[0].display_name == "Replies from X via Solo Librarians Bridge"
    body = msg.get_content()
    assert "Jane Doe (@jane) wrote on X" in body and "Bob Roe (@bobroe) wrote on X" in body
    assert body.index("Try Koha") < body.index("LibraryThing!")


def test_a_name_that_only_repeats_the_handle_is_not_shown_twice() -> None:
    """A Bluesky account without a display name is stored under its handle (seen against the
    dev-env AppView: "bo3.test (@bo3.test) wrote on Bluesky")."""
    msg = build([reply("ana.bsky.social", "ana.bsky.social")])
    assert "\n@ana.bsky.social wrote on X" in msg.get_content()
    assert msg["From"].addresses[0].display_name == "@ana.bsky.social via Solo Librarians Bridge"


def test_two_replies_by_one_author_keep_that_author_in_from() -> None:
    msg = build([reply(), reply(text="And Evergreen.", reply_id="1003")])
    assert msg["From"].addresses[0].display_name.startswith("Jane Doe (@jane)")


@pytest.mark.parametrize(("subject", "expected"), [
    ("Weeding policy", "Re: Weeding policy"),
    ("Re: Weeding policy", "Re: Weeding policy"),
    ("RE: Weeding policy", "RE: Weeding policy"),
    ("[Solo] Re: Weeding policy", "[Solo] Re: Weeding policy"),
    ("[Solo] Weeding policy", "Re: [Solo] Weeding policy"),
    ("AW: Weeding policy", "AW: Weeding policy"),
    ("", "Re: (no subject)"),
    ("Weeding\r\nBcc: x@evil.example", "Re: Weeding Bcc: x@evil.example"),
])
def test_subject_gets_one_re_and_keeps_the_list_tag(subject: str, expected: str) -> None:
    assert relay_subject(subject) == expected


def test_a_question_without_a_real_message_id_gets_no_threading_headers() -> None:
    msg = build([reply()], question(has_message_id=False, message_id="sha256-abc"))
    assert "In-Reply-To" not in msg and "References" not in msg


def test_unsafe_and_excess_references_are_left_out_keeping_first_and_latest() -> None:
    refs = ("bad id@x", "<evil>@x", *(f"r{i}@lists.example.org" for i in range(30)))
    msg = build([reply()], question(references=refs))
    ids = msg["References"].split()
    assert len(ids) == 20 and ids[0] == "<r0@lists.example.org>" and ids[-1] == "<q1@lists.example.org>"


def test_token_header_lets_the_echo_be_recognised_without_stored_ids() -> None:
    raw = build_relay_mail(question(), [reply()], SETTINGS, MID, date=WHEN, key=KEY)
    headers = message_from_bytes(raw)
    echo = EchoSettings("other@example.org", "example.org", KEY)  # only the token can match
    assert is_our_relay(headers, set(), echo)


@pytest.mark.parametrize(("item", "reason"), [
    (reply(name="\u202e\x00", username="not a handle!"), "no usable author name"),
    (reply(text=" \x00\u2028\r\n "), "empty text"),
    (ReplyItem("9", "A", "a", "t", "javascript:alert(1)", WHEN), "https"),
])
def test_unrelayable_replies_are_named_with_a_reason_and_refused_by_the_builder(
        item: ReplyItem, reason: str) -> None:
    found = check_reply(item)
    assert found is not None and reason in found
    with pytest.raises(RelayBuildError):
        build_relay_mail(question(), [reply(), item], SETTINGS, MID, date=WHEN, key=KEY)


def test_read_relay_reads_every_key() -> None:
    problems: list[str] = []
    data = {"from_address": "bridge@bridge.example.net", "list_address": "solo@lists.example.org",
            "admin_contact": "pat@bridge.example.net", "from_name": "Solo Bridge", "batch_window": "10m",
            "resend_grace": "1h", "give_up_after": "2d", "message_id_domain": "relay.example.net",
            "token_secret": {"env": "RELAY_TOKEN"}, "template_dir": "/etc/bridge/templates"}
    relay = read_relay(Section(data, "relay", problems))
    assert problems == []
    assert relay.id_domain == "relay.example.net" and relay.batch_window.total_seconds() == 600
    assert relay.token_secret is not None and relay.template_dir == "/etc/bridge/templates"


def test_read_relay_refuses_the_list_as_sender_and_bad_addresses() -> None:
    problems: list[str] = []
    read_relay(Section({"from_address": "solo@lists.example.org", "list_address": "solo@lists.example.org",
                        "admin_contact": "x", "message_id_domain": "not a domain"}, "relay", problems))
    assert any("relay.from_address: must be the bridge's own address" in p for p in problems)
    assert any("relay.message_id_domain" in p for p in problems)
    problems.clear()
    read_relay(Section({"from_address": "Bridge <b@x.org>, c@y.org", "list_address": "l@x.org"},
                       "relay", problems))
    assert any("relay.from_address: expected a plain address" in p for p in problems)
    assert any("relay.admin_contact: required" in p for p in problems)


@pytest.mark.parametrize("name", ["Dr: Jane " + "x" * 80, "Doe, Jane; Q. " * 8, "Zoë: (x) " * 12])
def test_long_display_names_with_specials_keep_their_quotes_when_folded(name: str) -> None:
    """Python 3.11 drops the quotes of a quoted display name it must split: "Dr: ..." would
    become group syntax naming no sender. The name is shortened so it never needs splitting."""
    msg = build([reply(name=name)])
    (address,) = msg["From"].addresses
    assert address.addr_spec == "bridge@bridge.example.net"
    # (Python's own parser may show a space where an encoded word was split: "(@ jane)")
    assert address.display_name.replace(" ", "").endswith("(@jane)viaSoloLibrariansBridge")


# --- hostile input never injects a header and never crashes ---

HOSTILE = ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x00", "\x1b", "\ud800",
           "=?utf-8?q?a=0D=0ABcc:_evil@x.example?=", "=?utf-8?b?DQpCY2M6IGV2aWxAeC5leGFtcGxl?=",
           "Bcc: evil@x.example", "\r\nBcc: evil@x.example", "<evil@x.example>", '"', "\\", "@", ",",
           ";", ":", "(", ")", "\u202e", "\u200d", "مرحبا", "שלום", "👩‍👩‍👧", "ア" * 40, "x" * 300, " " * 50]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20)), max_size=8).map("".join)


@settings(max_examples=500, deadline=None)
@given(name=hostile_text, username=hostile_text, text=hostile_text, subject=hostile_text,
       name2=hostile_text)
def test_hostile_names_texts_and_subjects_never_inject_headers_or_crash(
        name: str, username: str, text: str, subject: str, name2: str) -> None:
    items = [reply(name, username, text, "1"), reply(name2, "bob", "fine text", "2")]
    usable = [i for i in items if check_reply(i) is None]
    if not usable:
        return
    raw = build_relay_mail(question(subject), usable, SETTINGS, MID, date=WHEN, key=KEY)
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    assert [k.lower() for k in parsed] == BASE_HEADERS
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = message_from_bytes(raw, policy=policy.default)
    assert [a.addr_spec for a in msg["From"].addresses] == ["bridge@bridge.example.net"]
    assert msg["From"].addresses[0].display_name.endswith(" via Solo Librarians Bridge")
    assert [a.addr_spec for a in msg["To"].addresses] == ["solo@lists.example.org"]
    assert "fine text" in msg.get_body().get_content()  # type: ignore[union-attr]


def test_the_leading_mentions_x_adds_to_a_reply_are_not_relayed() -> None:
    from bridge.compose.relay_email import strip_reply_mentions

    assert strip_reply_mentions("@solobridge @ann Use the irregular pattern.") == "Use the irregular pattern."
    assert strip_reply_mentions("Thanks @ann, use the pattern.") == "Thanks @ann, use the pattern."
    assert strip_reply_mentions("@solobridge") == "@solobridge"


# --- issue 13: long Message-IDs (Microsoft 365: 78-94 characters) keep the relay threaded ---

M365 = ("DM6PR11MB4657B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B9C0D1E2F3@"
        "DM6PR11MB4657.namprd11.prod.outlook.com")


def test_long_message_ids_are_folded_between_ids_never_encoded() -> None:
    q = question(message_id=M365, references=(f"a{M365}", f"b{M365}"))
    raw = build_relay_mail(q, [reply()], SETTINGS, MID, date=WHEN, key=KEY)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?" not in head
    assert f"In-Reply-To: <{M365}>\r\n".encode() in head
    assert f"References: <a{M365}>\r\n <b{M365}>\r\n <{M365}>\r\n".encode() in head
    msg = message_from_bytes(raw, policy=policy.default)
    assert parse_ids(str(msg["References"])) == [f"a{M365}", f"b{M365}", M365]


_ID_CHARS = st.sampled_from("abcXYZ0123456789.!#$%&'*+-/=?^_`{|}~")


@settings(max_examples=60)
@given(st.lists(st.tuples(st.text(_ID_CHARS, min_size=1, max_size=120),
                          st.text(_ID_CHARS, min_size=1, max_size=60)), min_size=1, max_size=8))
def test_threading_ids_parse_back_exactly_whatever_their_length(
        parts: list[tuple[str, str]]) -> None:
    # An id with "=?" in it is left out on purpose (see the next test).
    ids = [f"{local}@{domain}".replace("=?", "=x") for local, domain in parts]
    q = question(message_id=ids[-1], references=tuple(ids[:-1]))
    parent, refs = thread_ids(q)
    raw = build_relay_mail(q, [reply()], SETTINGS, MID, date=WHEN, key=KEY)
    head = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    assert parse_ids(str(head["In-Reply-To"])) == [parent]
    assert parse_ids(str(head["References"])) == refs
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n")[0]


def test_an_id_that_looks_like_an_encoded_word_is_left_out_of_the_threading_headers() -> None:
    """A reader could decode "=?...?=" inside an id as RFC 2047: such an id is not written."""
    q = question(message_id="0@=?", references=("a@x",))
    head = BytesHeaderParser(policy=policy.compat32).parsebytes(
        build_relay_mail(q, [reply()], SETTINGS, MID, date=WHEN, key=KEY))
    assert "=?" not in str(head["In-Reply-To"] or "") and "=?" not in str(head["References"])


def test_fold_ids_keeps_short_ids_together_and_long_ones_alone() -> None:
    assert fold_ids("References", ["a@x", "b@x"]) == "<a@x> <b@x>"
    assert fold_ids("References", [M365, "a@x"]) == f"<{M365}>\n <a@x>"


def test_the_template_environment_is_built_once_not_per_email(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a Jinja environment per relay email cost half of a relay's time."""
    import bridge.compose.relay_email as relay_email

    built: list[object] = []
    real = relay_email.make_template_env

    def counting(settings: object) -> object:
        built.append(settings)
        return real(settings)  # type: ignore[arg-type]

    monkeypatch.setattr(relay_email, "make_template_env", counting)
    other = RelaySettings("bridge@bridge.example.net", "solo@lists.example.org", "pat@bridge.example.net",
                          template_dir="/nonexistent/templates-for-this-test-only")
    for _ in range(3):
        build_relay_mail(question(), [reply()], SETTINGS, MID, date=WHEN, key=KEY)
        with pytest.raises(jinja2.TemplateNotFound):
            build_relay_mail(question(), [reply()], other, MID, date=WHEN, key=KEY)
    assert len(built) <= 2  # at most once per template directory (the packaged one may be cached)
