"""Thread links per platform: Archived-At, Google Groups by Message-ID, a URL pattern, or none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bridge.compose.links import (
    LinkSettings,
    Strategy,
    check_url_template,
    group_from_list_id,
    thread_link,
)
from bridge.model import Author, Mail

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
    archived_at="https://lists.example.org/archives/list/solo@lists.example.org/message/ABC123/",
    message_id_hash="ABC123",
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
    assert thread_link(mail, LinkSettings())[0] == "https://lists.example.org/m/1"


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
        ("file:///srv/{message_id}", "must start with http"),
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
