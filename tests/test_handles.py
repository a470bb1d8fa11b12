"""One @mention rule for moderation (is "stop", content length) and the relay email's text."""

from __future__ import annotations

import pytest

from bridge.compose.relay_email import strip_reply_mentions
from bridge.decide.handles import clean_username, parse_handle, remove_mentions, strip_leading_mentions
from bridge.decide.moderation import content_chars, is_stop


@pytest.mark.parametrize(("text", "rest"), [
    ("@bridge @jane Try Koha.", "Try Koha."),
    ("  @bridge\n@jane_doe stop", "stop"),
    ("@bridge", ""),
    ("@jane's idea works", "@jane's idea works"),  # a possessive is text, not a mention
    ("Ask @jane about it", "Ask @jane about it"),  # only the leading run
    ("@bridge.bsky.social Try Koha.", "Try Koha."),  # Bluesky: a domain handle
    ("@bridge@social.example @ana.bsky.social stop", "stop"),  # Mastodon's user@instance too
    ("@ana.bsky.social's idea works", "@ana.bsky.social's idea works"),
])
def test_the_leading_mentions_x_adds_are_one_rule(text: str, rest: str) -> None:
    assert strip_leading_mentions(text) == rest


def test_moderation_and_the_relay_read_past_the_same_mentions() -> None:
    assert is_stop("@bridge @jane STOP!") and not is_stop("@bridge please stop posting my questions")
    assert strip_reply_mentions("@bridge @jane Try Koha.") == "Try Koha."
    assert strip_reply_mentions("@bridge @jane") == "@bridge @jane"  # nothing else: kept
    assert content_chars("@bridge @jane ok") == 2
    assert remove_mentions("a@b.org and @jane") == "a@b.org and  "
    # Bluesky and Mastodon mentions count as nothing too, whole (not "bsky.social" left over)
    assert content_chars("@bridge.bsky.social @ana@social.example ok") == 2
    assert remove_mentions("@ana.bsky.social thanks") == "  thanks"


def test_handles_follow_x_rules() -> None:
    assert clean_username("@Jane_Doe") == "Jane_Doe" and clean_username("jane doe") == ""
    assert clean_username("sixteen_chars_xx") == ""
    assert parse_handle(" @Jane ") == "jane" and parse_handle("not a handle") is None
