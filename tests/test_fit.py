"""Every network's text fits its network; the hashtag and the link are never cut; Bluesky's
facets' byte ranges point at exactly the hashtag and the link (property tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import grapheme
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.compose.fit import TextRules, composer_limit
from bridge.compose.post import ComposeSettings, compose_post, make_template_env
from bridge.compose.richtext import SHORT_LINK_MAX, rich_text, shorten_link
from bridge.model import Author, Mail

DEFAULTS = ComposeSettings(hashtags=("#sololibrarians", "#bibliothèque"))
ENV = make_template_env(DEFAULTS)
RULES = {
    "x": TextRules("x", 280, 23),
    "mastodon": TextRules("mastodon", 500, 23),
    "mastodon-small": TextRules("mastodon", 140, 40),
    "bluesky": TextRules("bluesky", 300, SHORT_LINK_MAX),
}
_TEXT = st.one_of(  # Latin words fill a limit exactly; other scripts weigh 2 on X
    st.text(alphabet="abcdefghij klmnopqrstuvwxyz éà,.", min_size=40, max_size=400),
    st.text(alphabet=st.characters(exclude_categories=["Cs"], max_codepoint=0x1FAFF), max_size=400))
_PATH = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéü0123456789-_/", min_size=1, max_size=120)


def root(subject: str, body: str) -> Mail:
    return Mail(message_id="q1@example.org", subject=subject, subject_norm=subject.casefold(),
                is_reply_subject=False, author=Author("Ann Example", "ann@example.org"),
                date=datetime(2025, 3, 4, tzinfo=UTC), in_reply_to=None, references=(), body=body)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(subject=_TEXT, body=_TEXT, path=_PATH, network=st.sampled_from(sorted(RULES)))
@example(subject="a" * 63 + ".aaaaaa", body="a" * 40, path="abc", network="mastodon-small")  # cut at ".aaa"
@example(subject="how do I catalogue zines in a tiny library with no budget and many volunteers " * 2,
         body="", path="abc", network="mastodon-small")
def test_every_text_fits_its_network_with_hashtags_and_link_whole(
        subject: str, body: str, path: str, network: str) -> None:
    rules = RULES[network]
    link = f"https://lists.example.org/t/{path}"
    compose = replace(DEFAULTS, max_weighted_length=composer_limit(rules))
    text = compose_post(root(subject, body + "?"), link, compose, ENV).text
    assert rules.fits(text, [link])
    assert text.count(link) == 1 and text.endswith(link)
    for tag in DEFAULTS.hashtags:
        assert f" {tag} " in f" {text} "
    if network == "bluesky":
        rich = rich_text(text, link)
        assert grapheme.length(rich.text) <= rules.max_length
        raw = rich.text.encode()
        spans = [(f.kind, raw[f.byte_start:f.byte_end].decode(), f.value) for f in rich.facets]
        assert ("link", shorten_link(link), link) in spans
        for tag in DEFAULTS.hashtags:
            assert ("tag", tag, tag[1:]) in spans


@given(before=_TEXT, path=_PATH)
def test_facets_cover_exactly_their_bytes_whatever_comes_before(before: str, path: str) -> None:
    link = f"https://www.lists.example.org/{path}"
    rich = rich_text(f"{before} #zines {link}", link)
    raw = rich.text.encode()
    link_facets = [f for f in rich.facets if f.kind == "link"]
    assert len(link_facets) == 1 and link_facets[0].value == link
    assert raw[link_facets[0].byte_start:link_facets[0].byte_end].decode() == shorten_link(link)
    for facet in rich.facets:
        piece = raw[facet.byte_start:facet.byte_end].decode()
        assert piece == (shorten_link(link) if facet.kind == "link" else "#" + facet.value)
    assert grapheme.length(shorten_link(link)) <= SHORT_LINK_MAX


@pytest.mark.parametrize(("link", "shown"), [
    ("https://www.example.org/a/", "example.org/a"),
    ("https://lists.example.org/archives/thread/ABCDEFGHIJ", "lists.example.org/archive…"),
])
def test_shorten_link(link: str, shown: str) -> None:
    assert shorten_link(link) == shown


def test_composer_limit_leaves_room_for_a_heavier_link() -> None:
    assert composer_limit(TextRules("m", 500, 23)) == 500
    assert composer_limit(TextRules("m", 500, 40)) == 483
    assert composer_limit(TextRules("b", 300, SHORT_LINK_MAX)) == 297
