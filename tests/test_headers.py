"""Header helpers: Message-ID cleaning, In-Reply-To variants, addresses, dates."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.mail import headers as h


def test_message_id_loses_brackets_and_whitespace() -> None:
    assert h.clean_message_id("  <abc@example.org> ") == "abc@example.org"
    assert h.clean_message_id("abc@example.org") == "abc@example.org"  # some clients omit <>
    assert h.clean_message_id("") is None
    assert h.clean_message_id("two words") is None


def test_in_reply_to_clean_messy_and_bare() -> None:
    assert h.in_reply_to_ids("<p@example.org>") == (["p@example.org"], True)
    assert h.in_reply_to_ids('<p@example.org> (Jane\'s message of "Mon")') == (["p@example.org"], False)
    assert h.in_reply_to_ids("p@example.org") == (["p@example.org"], False)  # web front-end
    assert h.in_reply_to_ids("a note without ids") == ([], False)


def test_references_keep_order_and_skip_junk() -> None:
    assert h.reference_ids("<a@x> <yes> <b@x>\n <c@x>") == ["a@x", "b@x", "c@x"]


def test_address_identity_is_the_addr_spec_only() -> None:
    assert h.parse_address('"Jane Doe" <Jane@Example.org>') == ("Jane Doe", "jane@example.org")
    assert h.parse_address("alice@example.org)<bob@example.org>")[1] == ""  # CVE-2023-27043 shape
    assert h.parse_address("j@x.org (Jane Doe)")[1] == "j@x.org"
    assert h.parse_address("Jane (work) <j@x.org>")[1] == "j@x.org"
    assert h.parse_address('"Doe, Jane" <J@X.org>') == ("Doe, Jane", "j@x.org")
    assert h.via_name("Jane Doe via SLA Solo Librarians") == "Jane Doe"
    assert h.via_name("Jane Doe") is None


def test_dates_fall_back_to_received_then_the_given_fallback() -> None:
    good = h.parse_date("Mon, 2 Nov 2026 09:15:00 +0100")
    assert good == datetime(2026, 11, 2, 8, 15, tzinfo=UTC)
    assert h.parse_date("not a date") is None
    assert h.parse_date("Mon, 2 Nov 1970 09:15:00 +0000") is None  # absurdly old
    received = h.received_date(["by mx; Tue, 3 Nov 2026 10:00:00 +0000"])
    assert h.choose_date(good, received, None) == (good, False)
    future = datetime(2099, 1, 1, tzinfo=UTC)
    assert h.choose_date(future, received, None) == (received, True)
    fallback = datetime(2026, 1, 1, tzinfo=UTC)
    assert h.choose_date(None, None, fallback) == (fallback, True)


def test_one_address_parser_for_authors_robots_list_post_and_config() -> None:
    """classify, List-Post and the config's plain addresses all read addresses with parse_address
    (three hand-written parsers before): a guessed address is no identity anywhere."""
    from bridge.mail.classify import is_robot_address
    from bridge.mail.headers import plain_address

    assert plain_address(" Bridge@Example.org ") == "bridge@example.org"
    assert plain_address("Bridge <bridge@example.org>") == ""
    assert plain_address("bridge@example.org, other@example.org") == ""
    assert is_robot_address("Mail System <postmaster@example.org>")
    assert not is_robot_address("noreply <jane@library.example.org>")
    assert not is_robot_address("noreply@example.org)<jane@library.example.org>")  # CVE-2023-27043 shape
