"""The one plaintext rule shared by IMAP, SMTP, the X API base URL and the metrics listener."""

from __future__ import annotations

from bridge.endpoints import http_refused, is_loopback, plaintext_refused


def test_is_loopback_never_trusts_names_other_than_localhost() -> None:
    """Loopback literals and localhost count; other names (even resolving locally) do not."""
    assert all(map(is_loopback, ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST."]))
    assert not any(map(is_loopback, ["10.0.0.1", "localhost.example.org", "imap.gmail.com", ""]))


def test_plaintext_needs_both_the_flag_and_a_loopback_host() -> None:
    assert not plaintext_refused("tls", False, "imap.example.org")
    assert not plaintext_refused("starttls", False, "imap.example.org")
    assert not plaintext_refused("plain", True, "127.0.0.1")
    assert plaintext_refused("plain", False, "127.0.0.1")
    assert plaintext_refused("plain", True, "imap.example.org")


def test_api_urls_are_https_or_plain_http_to_loopback_only() -> None:
    assert not http_refused("https://api.example.org")
    assert not http_refused("http://127.0.0.1:8080")
    assert not http_refused("http://[::1]:8080")
    assert not http_refused("http://127.0.0.5:1")
    assert http_refused("http://api.example.org")
    assert http_refused("ftp://127.0.0.1")
    assert http_refused("not a url")
