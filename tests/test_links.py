"""Thread links per platform: Archived-At, Google Groups by Message-ID, a URL pattern, or none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.compose.links import (
    LinkSettings,
    Strategy,
    check_url_template,
    describe_link_source,
    group_from_list_id,
    mailman_hash,
    thread_link,
)
from bridge.mail.parse import parse_mail
from bridge.model import Author, Mail
from bridge.store.db import Store
from bridge.store.mail import MailStore

ROOT = Mail(
    message_id="CAF+x/y=z@mail.gmail.com",
    subject="How do I renew?",
    subject_norm="how do i renew?",
    is_reply_subject=False,
    author=Author("Ann", "ann@example.org"),
    date=datetime(2025, 3, 4, tzinfo=UTC),
    in_reply_to=None,
    references=(),
    list_id="solo.lists.example.org",
    archived_at="https://lists.example.org/archives/list/solo@lists.example.org/message/PM4JM5VVX2S5KH6MSU7QA4VMYQCBAUXZ/",
    message_id_hash="PM4JM5VVX2S5KH6MSU7QA4VMYQCBAUXZ",
)
GOOGLE = replace(
    ROOT, archived_at=None, list_id="Solo Librarians <solo-librarians.googlegroups.com>"
)
PLAIN = replace(ROOT, archived_at=None, message_id_hash=None)


def test_auto_prefers_archived_at() -> None:
    assert thread_link(ROOT, LinkSettings()) == (ROOT.archived_at, "Archived-At")


def test_auto_uses_google_groups_for_a_googlegroups_list_id() -> None:
    url, reason = thread_link(GOOGLE, LinkSettings())
    assert (
        url == "https://groups.google.com/d/msgid/solo-librarians/CAF%2Bx%2Fy%3Dz%40mail.gmail.com"
    )
    assert reason == "Google Groups message link"


def test_auto_falls_back_to_the_template_then_to_nothing() -> None:
    settings = LinkSettings(url_template="https://arc.example.org/{list_id}/{message_id}")
    url, _ = thread_link(PLAIN, settings)
    assert url == "https://arc.example.org/solo.lists.example.org/CAF%2Bx%2Fy%3Dz%40mail.gmail.com"
    assert thread_link(PLAIN, LinkSettings()) == (None, "no usable link")


def test_configured_google_group_overrides_the_list_id() -> None:
    url, _ = thread_link(PLAIN, LinkSettings(strategy="google_groups", google_group="solo"))
    assert url is not None and url.startswith("https://groups.google.com/d/msgid/solo/")


def test_google_groups_strategy_without_a_group_says_why() -> None:
    url, reason = thread_link(PLAIN, LinkSettings(strategy="google_groups"))
    assert url is None
    assert "not a Google Group" in reason


def test_archived_at_strategy_needs_the_header() -> None:
    assert thread_link(PLAIN, LinkSettings(strategy="archived_at")) == (
        None,
        "no Archived-At header",
    )


@pytest.mark.parametrize(
    "value", ["ftp://lists.example.org/x", "javascript:alert(1)", "mailto:a@b.c"]
)
def test_only_http_urls_are_used(value: str) -> None:
    mail = replace(ROOT, archived_at=value)
    assert thread_link(mail, LinkSettings(strategy="archived_at"))[0] is None
    # auto moves on to the next source instead of publishing a non-web link
    assert thread_link(mail, LinkSettings()) == (None, "no usable link")


def test_archived_at_angle_brackets_are_removed() -> None:
    mail = replace(ROOT, archived_at="<https://lists.example.org/m/1>")
    settings = LinkSettings(archive_url="https://lists.example.org/m/")
    assert thread_link(mail, settings)[0] == "https://lists.example.org/m/1"


def test_template_quotes_every_value_including_slashes() -> None:
    settings = LinkSettings(
        strategy="template", url_template="https://x.example/{message_id_hash}?id={message_id}"
    )
    mail = replace(ROOT, message_id_hash="a/b c")
    url, reason = thread_link(mail, settings)
    assert url == "https://x.example/a%2Fb%20c?id=CAF%2Bx%2Fy%3Dz%40mail.gmail.com"
    assert reason == "url_template"


def test_template_needing_a_missing_value_gives_no_link() -> None:
    settings = LinkSettings(strategy="template", url_template="https://x.example/{message_id_hash}")
    url, reason = thread_link(PLAIN, settings)
    assert url is None
    assert "{message_id_hash}" in reason


def test_a_private_archive_is_never_linked() -> None:
    strategies: tuple[Strategy, ...] = ("auto", "archived_at", "google_groups", "template")
    for strategy in strategies:
        settings = LinkSettings(
            strategy=strategy, archive_private=True, url_template="https://x/{message_id}"
        )
        assert thread_link(ROOT, settings) == (None, "archive is private")


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("https://x.example/{msgid}", "unknown placeholder {msgid}"),
        ("https://x.example/{message_id.upper}", "unknown placeholder"),
        ("file:///srv/{message_id}", "plain http:// or https:// URL"),
        ("https://x.example/{message_id", "not a valid pattern"),
    ],
)
def test_bad_url_templates_are_reported(template: str, problem: str) -> None:
    problems = check_url_template(template)
    assert any(problem in p for p in problems), problems
    assert thread_link(ROOT, LinkSettings(strategy="template", url_template=template))[0] is None


def test_good_url_template_has_no_problems() -> None:
    assert check_url_template("https://arc.example.org/{list_id}/{message_id_hash}") == []


@pytest.mark.parametrize(
    ("list_id", "group"),
    [
        ("solo.googlegroups.com", "solo"),
        ("<Solo.GoogleGroups.com>", "solo"),
        ("Solo list <solo.googlegroups.com>", "solo"),
        ("solo.lists.example.org", None),
        (".googlegroups.com", None),
        (None, None),
    ],
)
def test_group_name_comes_from_a_googlegroups_list_id(
    list_id: str | None, group: str | None
) -> None:
    assert group_from_list_id(list_id) == group


# --- issue 13: a link taken from a header must point into the list's own archive ---

HOSTILE = [
    "https://evil.example/phish",
    "https://evil.example/\u200b@someone",
    "https://lists.example.org.evil.example/archives/list/solo@lists.example.org/message/"
    "PM4JM5VVX2S5KH6MSU7QA4VMYQCBAUXZ/",
    "https://evil.example/archives/list/solo@lists.example.org/message/"
    "PM4JM5VVX2S5KH6MSU7QA4VMYQCBAUXZ/",
    "https://lists.example.org@evil.example/",
    "https://lists.example.org/archives/list/solo@lists.example.org/message/"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",  # the shape, but not this message's hash
    "https://lists.example.org/archives/../redirect?to=https://evil.example",
    "https://lists.example.org/m/1 https://evil.example/",
    "http://lists.example.org/m/\"onclick",
    "javascript://lists.example.org/%0aalert(1)",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_sender_archived_at_outside_the_archive_is_never_used(value: str) -> None:
    mail = replace(ROOT, archived_at=value)
    url, reason = thread_link(mail, LinkSettings())
    assert url is None, reason
    assert reason.startswith("no usable link")
    assert thread_link(mail, LinkSettings(strategy="archived_at"))[0] is None
    # with a template configured, the template wins over the rejected header
    templated = LinkSettings(url_template="https://arc.example.org/{message_id_hash}")
    assert thread_link(mail, templated) == (
        "https://arc.example.org/PM4JM5VVX2S5KH6MSU7QA4VMYQCBAUXZ", "url_template")


def test_the_mailman3_permalink_of_this_message_on_the_lists_own_site_is_used() -> None:
    assert thread_link(ROOT, LinkSettings()) == (ROOT.archived_at, "Archived-At")
    other_host = replace(ROOT, archived_at=str(ROOT.archived_at).replace("//lists.", "//mail."))
    assert thread_link(other_host, LinkSettings())[0] == other_host.archived_at  # same site


def test_a_configured_archive_url_admits_links_under_it_only() -> None:
    settings = LinkSettings(archive_url="https://archive.example.net/solo/")
    good = replace(ROOT, archived_at="https://archive.example.net/solo/2025/msg00042.html")
    assert thread_link(good, settings)[0] == good.archived_at
    for bad in ("https://archive.example.net/other/x.html", "https://archive.example.net/solo2/x",
                "https://archive.example.net:8080/solo/x", "https://evil.example/solo/x"):
        assert thread_link(replace(ROOT, archived_at=bad), settings)[0] is None, bad


@given(st.text(min_size=1, max_size=60))
def test_no_generated_path_on_another_host_reaches_a_post(path: str) -> None:
    for header in (f"https://evil.example/{path}", f"https://lists.example.org.evil.example/{path}"):
        mail = replace(ROOT, archived_at=header, list_archive=header)
        assert thread_link(mail, LinkSettings(archive_url="https://lists.example.org/"))[0] is None


@given(st.text(max_size=80))
def test_an_accepted_link_is_always_plain_ascii_on_the_lists_site(path: str) -> None:
    header = f"https://lists.example.org/{path}"
    mail = replace(ROOT, archived_at=header)
    url, _ = thread_link(mail, LinkSettings(archive_url="https://lists.example.org/"))
    if url is not None:
        assert url.isascii() and url.isprintable() and " " not in url
        assert url.startswith("https://lists.example.org/")


def test_mailman_hash_matches_mailman3() -> None:
    assert mailman_hash("CAF+x/y=z@mail.gmail.com") == "PM4JM5VVX2S5KH6MSU7QA4VMYQCBAUXZ"


# --- issue 11 item 7: the List-Archive page the list names itself ---


@pytest.mark.parametrize(
    ("list_id", "page"),
    [
        ("solo.lists.example.org", "http://lists.example.org/pipermail/solo/"),
        ("solo.lists.example.org", "https://lists.example.org/mailman/pipermail/solo"),
        ("solo.lists.example.org", "https://lists.example.org/hyperkitty/list/solo@lists.example.org/"),
        ("SOLO.LISTSERV.EXAMPLE.EDU", "https://listserv.example.edu/cgi-bin/wa?A0=SOLO"),
        ("solo.listserv.example.edu", "https://lists.example.edu/scripts/wa.exe?A0=SOLO"),
        ("solo.groups.io", "https://groups.io/g/solo/topics"),
    ],
)
def test_auto_falls_back_to_the_list_archive_page(list_id: str, page: str) -> None:
    mail = replace(PLAIN, list_id=list_id, list_archive=page)
    assert thread_link(mail, LinkSettings()) == (page, "List-Archive (the list's archive page)")


@pytest.mark.parametrize(
    "page",
    [
        "https://evil.example/pipermail/solo/",
        "https://lists.example.org/pipermail/other/",
        "https://lists.example.org/mailman/private/solo/",
        "https://lists.example.org/phish",
    ],
)
def test_a_list_archive_outside_the_lists_archive_is_not_used(page: str) -> None:
    mail = replace(PLAIN, list_archive=page)
    assert thread_link(mail, LinkSettings())[0] is None


def test_archived_at_and_template_come_before_the_archive_page() -> None:
    page = "http://lists.example.org/pipermail/solo/"
    assert thread_link(replace(ROOT, list_archive=page), LinkSettings())[1] == "Archived-At"
    settings = LinkSettings(url_template="https://arc.example.org/{message_id}")
    assert thread_link(replace(PLAIN, list_archive=page), settings)[1] == "url_template"


def test_describe_link_source_names_the_setting_to_add() -> None:
    message = describe_link_source(LinkSettings(), [PLAIN, PLAIN])
    assert message is not None
    assert "no link source" in message and "url_template" in message
    hostile = replace(PLAIN, archived_at="https://archive.example.net/x/1")
    hinted = describe_link_source(LinkSettings(), [hostile])
    assert hinted is not None and "archive.example.net" in hinted and "archive_url" in hinted


def test_describe_link_source_is_silent_when_a_source_exists() -> None:
    assert describe_link_source(LinkSettings(), [PLAIN, ROOT]) is None
    assert describe_link_source(LinkSettings(), [GOOGLE]) is None
    assert describe_link_source(LinkSettings(url_template="https://a.example/{message_id}"),
                                [PLAIN]) is None
    assert describe_link_source(LinkSettings(), []) is None
    private = describe_link_source(LinkSettings(archive_private=True), [ROOT])
    assert private is not None and "archive_private" in private


def test_list_archive_is_parsed_and_stored(tmp_path: Path) -> None:
    raw = (b"Message-ID: <q1@example.org>\nFrom: Ann <ann@example.org>\nSubject: Renewals?\n"
           b"Date: Tue, 4 Mar 2025 10:00:00 +0000\nList-Id: <solo.lists.example.org>\n"
           b"List-Archive: <mailto:arc@lists.example.org>,\n"
           b" <http://lists.example.org/pipermail/solo/>\n\nHow do I renew?\n")
    (mail,) = parse_mail(raw)
    assert mail.list_archive == "http://lists.example.org/pipermail/solo/"
    store = Store.open(tmp_path / "b.sqlite3")
    with store.transaction():
        MailStore(store).add_mail(mail, "test")
    assert MailStore(store).get_mail("q1@example.org") == mail
    store.close()
