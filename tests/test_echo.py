"""Recognising our own relay when the list delivers it back: is_our_relay and its signs."""

from __future__ import annotations

from email import message_from_bytes

from bridge.mail.echo import EchoSettings, is_our_message_id, is_our_relay, make_token

KEY = b"k" * 32
SETTINGS = EchoSettings("bridge@bridge.example.net", "bridge.example.net", KEY)
OUR_ID = "lsb-relay.1740787200.0011223344556677@bridge.example.net"
STRANGER = "Ann Other <ann@library.example.org>"


def test_a_stored_message_id_alone_is_enough() -> None:
    headers = {"Message-ID": "<abc@elsewhere.example>", "From": STRANGER}
    assert is_our_relay(headers, {"abc@elsewhere.example"}, SETTINGS)


def test_a_valid_token_alone_is_enough_even_when_the_list_rewrote_from() -> None:
    headers = {"Message-ID": f"<{OUR_ID}>", "From": "Jane via Solo <solo@lists.example.org>",
               "X-Listserv-Bridge": make_token(KEY, OUR_ID)}
    assert is_our_relay(headers, set(), SETTINGS)


def test_a_token_for_another_message_id_or_another_key_is_not_a_sign() -> None:
    other_key = EchoSettings(SETTINGS.from_address, SETTINGS.message_id_domain, b"other")
    headers = {"Message-ID": "<q@lists.example.org>", "From": STRANGER,
               "X-Listserv-Bridge": make_token(KEY, "different@lists.example.org")}
    assert not is_our_relay(headers, set(), SETTINGS)
    headers["X-Listserv-Bridge"] = make_token(KEY, "q@lists.example.org")
    assert is_our_relay(headers, set(), SETTINGS)
    assert not is_our_relay(headers, set(), other_key)


def test_our_from_address_needs_our_message_id_pattern_as_a_second_sign() -> None:
    ours = "Jane Doe (@jane) via Solo Librarians Bridge <Bridge@Bridge.Example.Net>"
    assert is_our_relay({"Message-ID": f"<{OUR_ID}>", "From": ours}, set(), SETTINGS)
    assert not is_our_relay({"Message-ID": "<x1@mail.example.com>", "From": ours}, set(), SETTINGS)
    assert not is_our_relay({"Message-ID": f"<{OUR_ID}>", "From": STRANGER}, set(), SETTINGS)


def test_our_address_moved_to_reply_to_by_a_dmarc_rewrite_still_counts() -> None:
    headers = {"Message-ID": f"<{OUR_ID}>", "From": "Bridge via Solo <solo@lists.example.org>",
               "Reply-To": "bridge@bridge.example.net"}
    assert is_our_relay(headers, set(), SETTINGS)


def test_a_spoofed_display_name_with_our_address_is_not_our_address() -> None:
    headers = {"Message-ID": f"<{OUR_ID}>", "From": '"bridge@bridge.example.net" <mallory@evil.example>'}
    assert not is_our_relay(headers, set(), SETTINGS)


def test_a_message_without_message_id_is_never_ours() -> None:
    assert not is_our_relay({"From": "bridge@bridge.example.net"}, {""}, SETTINGS)


def test_parsed_message_and_lower_case_mapping_are_both_read() -> None:
    raw = (f"Message-ID: <{OUR_ID}>\r\nFrom: bridge@bridge.example.net\r\n"
           f"x-listserv-bridge: {make_token(KEY, OUR_ID)}\r\n\r\nbody\r\n").encode()
    assert is_our_relay(message_from_bytes(raw), set(), SETTINGS)
    assert is_our_relay({"message-id": f"<{OUR_ID}>", "from": "bridge@bridge.example.net"}, set(), SETTINGS)


def test_token_is_stable_hex_of_fixed_length_and_depends_on_key_and_id() -> None:
    token = make_token(KEY, OUR_ID)
    assert token == make_token(KEY, OUR_ID) and len(token) == 32 and int(token, 16) >= 0
    assert token != make_token(b"x", OUR_ID) and token != make_token(KEY, "a@b")


def test_message_id_pattern_is_tied_to_the_domain() -> None:
    assert is_our_message_id(OUR_ID.upper(), "bridge.example.net")
    assert not is_our_message_id(OUR_ID, "example.net")
    assert not is_our_message_id("lsb-relay.1@bridge.example.net.evil", "bridge.example.net")
    assert not is_our_message_id(OUR_ID, "")
