"""Parsing one message: identity, parent choice, author recovery, dates, flags, digests, bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.mail.parse import HASH_ID_DOMAIN, MailParseError, ParseOptions, parse_mail
from bridge.model import Flag

LIST = frozenset({"sla-dsol@googlegroups.com"})


def one(raw: bytes, **kw: object) -> object:
    (mail,) = parse_mail(raw, ParseOptions(**kw))  # type: ignore[arg-type]
    return mail


def test_identity_subject_and_clean_parent() -> None:
    m = parse_mail(
        b"Message-ID: <q1@example.org>\nIn-Reply-To: <p@example.org>\n"
        b"References: <r@example.org> <p@example.org>\nDate: Mon, 2 Nov 2026 09:15:00 +0000\n"
        b"From: Jane Doe <Jane@Example.org>\nSubject: [sla-dsol] Re: Koha serials\n\nhello\n"
    )[0]
    assert m.message_id == "q1@example.org"
    assert m.in_reply_to == "p@example.org"
    assert m.references == ("r@example.org", "p@example.org")
    assert m.subject == "[sla-dsol] Re: Koha serials"
    assert m.subject_norm == "koha serials" and m.is_reply_subject
    assert m.author.address == "jane@example.org" and m.author.name == "Jane Doe"
    assert m.date == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)


def test_parent_falls_back_to_last_reference_then_messy_in_reply_to() -> None:
    refs = parse_mail(b"Message-ID: <c@x.org>\nReferences: <a@x.org> <b@x.org>\n"
                      b"In-Reply-To: <b@x.org> (Bob's message)\nSubject: Re: s\n\nx\n")[0]
    assert refs.in_reply_to == "b@x.org"
    bare = parse_mail(b"Message-ID: <d@x.org>\nIn-Reply-To: a@x.org\nSubject: Re: s\n\nx\n")[0]
    assert bare.in_reply_to == "a@x.org" and bare.references == ("a@x.org",)
    selfref = parse_mail(b"Message-ID: <e@x.org>\nIn-Reply-To: <e@x.org>\nSubject: s\n\nx\n")[0]
    assert selfref.in_reply_to is None and selfref.references == ()
    # Yahoo Mail names a new message's own id as "ID.ref@" in References, and replies carry it on
    new = parse_mail(b"Message-ID: <1.2.3@mail.yahoo.com>\n"
                     b"References: <1.2.3.ref@mail.yahoo.com>\nSubject: s\n\nx\n")[0]
    assert new.in_reply_to is None and new.references == ()
    reply = parse_mail(b"Message-ID: <r@x.org>\nIn-Reply-To: <1.2.3@mail.yahoo.com>\n"
                       b"References: <1.2.3.ref@mail.yahoo.com> <1.2.3@mail.yahoo.com>\n"
                       b"Subject: Re: s\n\nx\n")[0]
    assert reply.references == ("1.2.3@mail.yahoo.com",)
    other = parse_mail(b"Message-ID: <f@x.org>\nReferences: <9.ref@mail.yahoo.com>\n"
                       b"Subject: s\n\nx\n")[0]  # a .ref id of another message: a real parent
    assert other.in_reply_to == "9.ref@mail.yahoo.com"


def test_via_list_rewrite_recovers_the_person() -> None:
    raw = (b"Message-ID: <v@x.org>\nFrom: Ann Lee via SLA Solo Librarians <sla-dsol@googlegroups.com>\n"
           b"Reply-To: Ann Lee <ann@example.net>\nSubject: q\n\nx\n")
    m = parse_mail(raw, ParseOptions(list_addresses=LIST))[0]
    assert (m.author.name, m.author.address) == ("Ann Lee", "ann@example.net")
    orig = (b"Message-ID: <w@x.org>\nFrom: Bo Chan via SLA <sla-dsol@googlegroups.com>\n"
            b"X-Original-From: Bo Chan <bo@example.net>\nSubject: q\n\nx\n")
    assert parse_mail(orig, ParseOptions(list_addresses=LIST))[0].author.address == "bo@example.net"
    lost = b"Message-ID: <y@x.org>\nFrom: Cy via SLA <sla-dsol@googlegroups.com>\nSubject: q\n\nx\n"
    assert parse_mail(lost, ParseOptions(list_addresses=LIST))[0].author.name == "Cy"


def test_missing_message_id_gets_a_stable_content_hash() -> None:
    raw = b"From: a@example.org\nSubject: no id\nDate: Mon, 2 Nov 2026 09:15:00 +0000\n\nbody\n"
    first = parse_mail(raw)[0]
    assert first.message_id.endswith("@" + HASH_ID_DOMAIN) and not first.has_message_id
    assert parse_mail(raw.replace(b"\n", b"\r\n"))[0].message_id == first.message_id


def test_missing_or_bad_date_falls_back_and_is_flagged() -> None:
    fallback = datetime(2026, 11, 5, tzinfo=UTC)
    m = parse_mail(b"Message-ID: <d@x.org>\nDate: yesterday-ish\nSubject: s\n\nx\n",
                   ParseOptions(fallback_date=fallback))[0]
    assert m.date == fallback and Flag.DATE_MISSING in m.flags


def test_flags_spam_no_archive_and_automated() -> None:
    spam = parse_mail(b"Message-ID: <s@x.org>\nX-Spam-Flag: YES\nSubject: win\n\nx\n")[0]
    assert Flag.SPAM in spam.flags
    private = parse_mail(b"Message-ID: <n@x.org>\nX-No-Archive: yes\nSubject: q\n\nx\n")[0]
    assert Flag.NO_ARCHIVE in private.flags
    ooo = parse_mail(b"Message-ID: <o@x.org>\nAuto-Submitted: auto-replied\n"
                     b"Subject: Out of Office: Re: q\n\nx\n")[0]
    assert Flag.AUTOMATED in ooo.flags or Flag.OUT_OF_OFFICE in ooo.flags


def test_body_is_cleaned_and_only_parsed_when_asked() -> None:
    raw = (b"Message-ID: <b@x.org>\nSubject: Re: q\nContent-Type: text/plain; charset=utf-8\n\n"
           b"Try the prediction pattern editor.\n\nOn Mon, Nov 2, 2026 at 9:15 AM Jane <j@x.org> wrote:\n"
           b"> How do I fix serials?\n")
    assert parse_mail(raw, ParseOptions(want_body=False))[0].body is None
    body = parse_mail(raw)[0].body
    assert body is not None and "prediction pattern" in body and "How do I" not in body


def test_html_only_mail_becomes_text() -> None:
    raw = (b"Message-ID: <h@x.org>\nSubject: q\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
           b"<html><body><p>Does anyone use <b>LibGuides</b>&nbsp;for policies?</p></body></html>\n")
    body = parse_mail(raw)[0].body
    assert body is not None and "LibGuides" in body and "<b>" not in body and "&nbsp;" not in body


def test_mime_digest_is_split_into_its_messages() -> None:
    raw = (b"Message-ID: <dig@x.org>\nSubject: digest\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/digest; boundary="B"\n\n--B\n\n'
           b"Message-ID: <d1@x.org>\nSubject: first\n\none\n--B\n\n"
           b"Message-ID: <d2@x.org>\nSubject: second\n\ntwo\n--B--\n")
    mails = parse_mail(raw)
    assert [m.message_id for m in mails] == ["d1@x.org", "d2@x.org"]
    assert all(Flag.FROM_DIGEST in m.flags for m in mails)


@pytest.mark.parametrize("raw", [b"", b"   \n\n", b"\n\njust a body with no headers\n"])
def test_not_a_message_is_a_clear_error(raw: bytes) -> None:
    with pytest.raises(MailParseError):
        parse_mail(raw)


def test_leading_blank_line_before_headers_is_tolerated() -> None:
    assert parse_mail(b" " * 255 + b"\nMessage-ID: <l@x.org>\nSubject: s\n\nx\n")[0].message_id == "l@x.org"


def test_broken_encoded_word_in_a_header_does_not_fail_the_message() -> None:
    raw = b"Message-ID: <b64@x.org>\nFrom: =?utf-8?b?!!!notbase64?= <a@example.org>\nSubject: s\n\nx\n"
    mail = parse_mail(raw)[0]
    assert mail.author.address == "a@example.org"
