"""Moderation rules (pure, `now` injected), the [moderation] config reader and the `moderate`
command over a real SQLite store."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    run_moderate,
)
from bridge.store.db import Store, to_epoch

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
    assert decide(reply(created=None)) == ("held", "account age unknown (X did not say)")


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


# -- the moderate command ----------------------------------------------------------------------
@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


def add_reply(store: Store, reply_id: str, status: str, reason: str, text: str = GOOD) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO replies(reply_id, root_id, post_id, author_id, author_username, "
            "author_name, text, url, created_at, status, reason, fetched_at) "
            "VALUES (?, 'q1@lists.example.org', '1900', '77', 'jane', 'Jane Doe', ?, ?, ?, ?, ?, ?)",
            (reply_id, text, f"https://x.com/jane/status/{reply_id}",
             to_epoch(NOW) + int(reply_id) % 100, status, reason, to_epoch(NOW)))


def moderate_cmd(db: Path, action: str, *ids: str, as_json: bool = False) -> tuple[int, str]:
    store = Store.open(db)  # a fresh connection each time, as each CLI run is
    try:
        out = io.StringIO()
        code = run_moderate(store, action, list(ids), out, NOW + timedelta(hours=1), as_json)
        return code, out.getvalue()
    finally:
        store.close()


def status_of(db: Path, reply_id: str) -> tuple[str, str]:
    store = Store.open(db)
    row = store.conn.execute("SELECT status, reason FROM replies WHERE reply_id = ?",
                             (reply_id,)).fetchone()
    store.close()
    return str(row[0]), str(row[1])


@pytest.fixture
def seeded(db: Path) -> Path:
    store = Store.open(db)
    add_reply(store, "1901", "held", "contains a link (example.net)")
    add_reply(store, "1902", "held", "account is 2d old (minimum 30d)")
    add_reply(store, "1903", "held", STOP_REASON, "@listbridge STOP")
    add_reply(store, "1904", "rejected", "too short: 1 of 15 characters of words", "+1")
    add_reply(store, "1905", "relayed", "passed every filter")
    store.close()
    return db


def test_list_shows_only_held_replies_with_reason_and_counts_the_rest(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "list")
    assert code == 0
    assert "1901" in out and "[held: contains a link (example.net)]" in out and "@jane" in out
    assert "https://x.com/jane/status/1902" in out and STOP_REASON in out
    assert "1904  " not in out and "1905  " not in out
    assert "also stored: 1 rejected, 1 relayed" in out


def test_list_json_is_one_object_per_held_reply(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "list", as_json=True)
    items = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [i["reply_id"] for i in items] == ["1901", "1902", "1903"]
    assert items[0]["reason"] == "contains a link (example.net)"
    assert items[0]["root_id"] == "q1@lists.example.org" and items[0]["created_at"].endswith("+00:00")


def test_list_with_ids_shows_those_replies_whatever_their_status(seeded: Path) -> None:
    _, out = moderate_cmd(seeded, "list", "1904", as_json=True)
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["rejected"]


def test_approve_persists_status_reason_who_and_when(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "approve", "1901")
    assert (code, out) == (0, "1901: approved\n")
    assert status_of(seeded, "1901") == ("approved", "approved by admin")
    store = Store.open(seeded)
    trail = store.conn.execute("SELECT status, reason, actor, decided_at FROM reply_decisions "
                               "WHERE reply_id = '1901'").fetchall()
    store.close()
    assert trail == [("approved", "approved by admin", "admin", to_epoch(NOW) + 3600)]


def test_reject_persists_and_a_rejected_reply_can_still_be_approved(seeded: Path) -> None:
    assert moderate_cmd(seeded, "reject", "1902")[0] == 0
    assert status_of(seeded, "1902") == ("rejected", "rejected by admin")
    assert moderate_cmd(seeded, "approve", "1904", "1902") == \
        (0, "1902: approved\n1904: approved\n")
    assert status_of(seeded, "1904") == ("approved", "approved by admin")


def test_approve_all_approves_every_held_reply_except_a_stop_request(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "approve", "all")
    assert (code, out) == (0, "1901: approved\n1902: approved\n")
    assert status_of(seeded, "1903") == ("held", STOP_REASON)
    assert status_of(seeded, "1904")[0] == "rejected"  # "all" means all held, not all stored


def test_a_stop_request_is_never_approved_even_by_id_but_can_be_rejected(seeded: Path) -> None:
    assert moderate_cmd(seeded, "approve", "1903") == (1, "1903: not approved: it asked to stop\n")
    assert status_of(seeded, "1903") == ("held", STOP_REASON)
    assert moderate_cmd(seeded, "reject", "all")[0] == 0
    assert status_of(seeded, "1903") == ("rejected", "rejected by admin")
    assert moderate_cmd(seeded, "approve", "1903")[0] == 1  # not even once rejected


def test_unknown_ids_and_relayed_replies_are_refused_while_the_rest_is_applied(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "reject", "1901", "1905", "nope")
    assert code == 1
    assert out == "nope: no such reply\n1901: rejected\n1905: not rejected: it is relayed\n"
    assert status_of(seeded, "1905")[0] == "relayed"


def test_an_approved_reply_already_in_a_relay_email_cannot_be_rejected(seeded: Path) -> None:
    store = Store.open(seeded)
    add_reply(store, "1906", "approved", "passed every filter")
    with store.transaction() as conn:
        conn.execute("UPDATE replies SET relay_id = 'relay-1@bridge.example' WHERE reply_id = '1906'")
    store.close()
    assert moderate_cmd(seeded, "reject", "1906") == \
        (1, "1906: not rejected: it is in relay email relay-1@bridge.example\n")
    assert status_of(seeded, "1906")[0] == "approved"


def test_usage_errors_exit_2_and_change_nothing(seeded: Path) -> None:
    assert moderate_cmd(seeded, "approve")[0] == 2
    assert moderate_cmd(seeded, "delete", "1901")[0] == 2
    assert status_of(seeded, "1901")[0] == "held"


def test_held_replies_survive_a_restart_and_nothing_is_deleted(seeded: Path) -> None:
    moderate_cmd(seeded, "reject", "all")
    store = Store.open(seeded)
    count = store.conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    store.close()
    assert count == 5  # rejecting keeps the row
    assert moderate_cmd(seeded, "list")[1].startswith("no held replies\n")
    _, out = moderate_cmd(seeded, "list", "1901", "1902", "1903", as_json=True)
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["rejected"] * 3


def test_list_on_an_empty_store_says_so(db: Path) -> None:
    assert moderate_cmd(db, "list") == (0, "no held replies\n")
