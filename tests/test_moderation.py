"""Moderation rules (pure, `now` injected) and the [moderation] config reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.config.policy import read_moderation
from bridge.config.reader import Section
from bridge.decide.moderation import (
    STOP_REASON,
    ModerationSettings,
    RecentCounts,
    ReplyCandidate,
    content_chars,
    is_stop,
    moderate,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=900)
GOOD = "@listbridge Try the Hollinger catalogue, their boxes are acid free."
FILTERED = ModerationSettings()
NO_COUNTS = RecentCounts()


def reply(text: str = GOOD, *, user: str = "jane", created: datetime | None = OLD,
          urls: tuple[str, ...] = ()) -> ReplyCandidate:
    return ReplyCandidate("1901", "1900", "77", user, created, text, urls)


def decide(r: ReplyCandidate, settings: ModerationSettings = FILTERED,
           counts: RecentCounts = NO_COUNTS) -> tuple[str, str]:
    d = moderate(r, counts, settings, NOW)
    return d.status, d.reason


# -- rules -------------------------------------------------------------------------------------
def test_a_substantial_reply_from_an_old_account_is_approved_with_a_reason() -> None:
    assert decide(reply()) == ("approved", "passed every filter")


@pytest.mark.parametrize("text", ["stop", "STOP", "@listbridge stop", "@listbridge @jane STOP.",
                                  "  Stop! "])
def test_a_reply_saying_only_stop_is_held_as_asked_to_stop(text: str) -> None:
    assert is_stop(text)
    assert decide(reply(text)) == ("held", STOP_REASON)


@pytest.mark.parametrize("text", ["stop posting these, thanks", "nonstop", "@stop hello there"])
def test_stop_inside_a_longer_reply_is_not_a_stop_request(text: str) -> None:
    assert not is_stop(text)


@pytest.mark.parametrize("mode", ["open", "hold"])
def test_stop_is_held_in_every_mode_even_from_the_allowlist(mode: str) -> None:
    settings = ModerationSettings(mode=mode, allowlist=frozenset({"jane"}))
    assert decide(reply("@listbridge STOP"), settings) == ("held", STOP_REASON)
    assert decide(reply("@listbridge STOP"), ModerationSettings(allowlist=frozenset({"jane"}))) \
        == ("held", STOP_REASON)


@pytest.mark.parametrize("mode", ["filtered", "open", "hold"])
def test_a_blocklisted_handle_is_rejected_in_every_mode_whatever_its_case(mode: str) -> None:
    settings = ModerationSettings(mode=mode, blocklist=frozenset({"spammer"}))
    assert decide(reply(user="SpamMer"), settings) == ("rejected", "@SpamMer is on the blocklist")


def test_the_allowlist_skips_link_length_age_and_cap_filters() -> None:
    settings = ModerationSettings(allowlist=frozenset({"jane"}))
    r = reply("+1 https://example.net/x", created=NOW - timedelta(days=1),
              urls=("https://example.net/x",))
    assert decide(r, settings, RecentCounts(99, 99)) == ("approved", "@jane is on the allowlist")


def test_a_reply_with_a_link_is_held_naming_the_host() -> None:
    r = reply(GOOD + " https://Shop.example.net/boxes", urls=("https://Shop.example.net/boxes",))
    assert decide(r) == ("held", "contains a link (shop.example.net)")


def test_a_link_only_reply_is_held_not_rejected_as_too_short() -> None:
    r = reply("@listbridge https://example.org/answer", urls=("https://example.org/answer",))
    assert decide(r)[0] == "held"


def test_links_pass_when_hold_links_is_off() -> None:
    r = reply(GOOD + " https://example.net/a", urls=("https://example.net/a",))
    assert decide(r, ModerationSettings(hold_links=False))[0] == "approved"


@pytest.mark.parametrize("text", ["@listbridge +1", "@listbridge 👍👍🎉", "@listbridge Thanks!!",
                                  "@listbridge @jane @bob @carol me too"])
def test_content_free_replies_are_rejected_as_too_short(text: str) -> None:
    status, reason = decide(reply(text))
    assert status == "rejected" and reason.startswith("too short: ")
    assert reason.endswith("of 15 characters of words")


def test_content_counts_letters_and_digits_without_mentions_or_links_and_cjk_twice() -> None:
    assert content_chars("@listbridge @jane_doe +1 https://t.co/abcdefghij") == 1
    assert content_chars("Call 555 1234") == 11
    assert content_chars("谢谢你的帮助") == 12
    assert decide(reply("@listbridge 请试试国家图书馆的目录"))[0] == "approved"  # 11 wide chars


def test_a_young_account_is_held_with_its_age_and_the_minimum() -> None:
    r = reply(created=NOW - timedelta(days=3, hours=2))
    assert decide(r) == ("held", "account is 3d 2h old (minimum 30d)")
    assert decide(reply(created=NOW - timedelta(days=30)))[0] == "approved"


def test_an_account_of_unknown_age_is_held() -> None:
    assert decide(reply(created=None)) == ("held", "account age unknown (the network did not say)")


def test_the_per_author_daily_cap_holds_the_next_reply() -> None:
    assert decide(reply(), counts=RecentCounts(author=2))[0] == "approved"
    assert decide(reply(), counts=RecentCounts(author=3)) == \
        ("held", "@jane reached the cap of 3 replies a day")


def test_the_per_thread_daily_cap_holds_the_next_reply() -> None:
    assert decide(reply(), counts=RecentCounts(thread=9))[0] == "approved"
    assert decide(reply(), counts=RecentCounts(thread=10)) == \
        ("held", "this thread reached the cap of 10 replies a day")


def test_a_cap_of_zero_means_no_cap() -> None:
    settings = ModerationSettings(per_author_daily=0, per_thread_daily=0)
    assert decide(reply(), settings, RecentCounts(500, 500))[0] == "approved"


def test_hold_mode_holds_even_a_good_reply() -> None:
    assert decide(reply(), ModerationSettings(mode="hold")) == \
        ("held", "hold mode: every reply waits for the admin")


def test_open_mode_approves_what_filtered_mode_would_reject_or_hold() -> None:
    r = reply("+1 https://example.net", created=None, urls=("https://example.net",))
    assert decide(r, ModerationSettings(mode="open")) == ("approved", "open mode")


# -- config ------------------------------------------------------------------------------------
def read(data: dict[str, object]) -> tuple[ModerationSettings, list[str]]:
    problems: list[str] = []
    return read_moderation(Section(data, "moderation", problems)), problems


def test_read_moderation_defaults_match_the_dataclass() -> None:
    assert read({}) == (ModerationSettings(), [])


def test_read_moderation_reads_every_key_and_normalises_handles() -> None:
    cfg, problems = read({"mode": "hold", "blocklist": ["@Spam_Bot", "troll"],
                          "allowlist": ["@Jane"], "hold_links": False, "min_account_age": "7d",
                          "per_author_daily": 5, "per_thread_daily": 0, "min_chars": 3})
    assert problems == []
    assert cfg == ModerationSettings("hold", frozenset({"spam_bot", "troll"}),
                                     frozenset({"jane"}), False, timedelta(days=7), 5, 0, 3)


def test_read_moderation_reports_each_problem_with_its_key() -> None:
    _, problems = read({"mode": "lenient", "blocklist": ["not a handle", "jane"],
                        "allowlist": ["JANE"], "min_account_age": "soon", "min_chars": -1,
                        "per_author": 3})
    assert "moderation.mode: must be one of filtered, open, hold" in problems
    assert "moderation.blocklist: 'not a handle' is not an X handle" in problems
    assert "moderation: on both blocklist and allowlist: jane" in problems
    assert any(p.startswith("moderation.min_account_age: invalid duration") for p in problems)
    assert "moderation.min_chars: must be between 0 and 280" in problems
    assert "moderation.per_author: unknown key" in problems
