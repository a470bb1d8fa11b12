"""Secrets out of every error text (issue 13): remembered values in any quoting, and credential
shapes a server may echo, masked in BridgeError texts and in log lines."""

from __future__ import annotations

import pytest

from bridge.config.secrets import SecretRef
from bridge.errors import AuthError, RateLimited
from bridge.redact import REDACTED, redact, remember
from bridge.service.log import REDACTOR


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"detail":"Unauthorized; Authorization: OAuth oauth_consumer_key=\\"ck-1\\", '
         'oauth_token=\\"at-2\\""}', "at-2"),
        ("Authorization: OAuth oauth_consumer_key=\"ck-1\", oauth_token=\"at-2\"", "ck-1"),
        ("{'Authorization': 'Bearer AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid'}", "AAAAAAAA"),
        ("GET /x?oauth_token=at-2&oauth_signature=sig%3D", "at-2"),
        ("cannot reach imaps://bob:hunter2@mail.example.org/", "hunter2"),
        ('{"client_secret": "cs-99", "password": "pw-1"}', "cs-99"),
        ("basic Ym9iOmh1bnRlcjI=", "Ym9iOmh1bnRlcjI"),
    ],
)
def test_credential_shapes_are_masked_whoever_sent_them(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out


def test_config_paths_and_ordinary_words_stay() -> None:
    text = "imap.password: credential imap-password: $CREDENTIALS_DIRECTORY is not set"
    assert redact(text) == text


def test_every_resolved_secret_is_masked_in_any_quoting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TOKEN", "tok/en+with=signs")
    assert SecretRef("env", "X_TOKEN").resolve() == "tok/en+with=signs"
    for shown in ("tok/en+with=signs", "tok%2Fen%2Bwith%3Dsigns", "tok%2Fen%2Bwith%3Dsigns"):
        assert redact(f"server said {shown}!") == f"server said {REDACTED}!"


def test_bridge_errors_are_redacted_when_made() -> None:
    remember("s3cret-token")
    assert "s3cret-token" not in str(AuthError("X: HTTP 401 echo s3cret-token"))
    assert str(RateLimited("429 for s3cret-token", None)) == f"429 for {REDACTED}"


def test_log_lines_mask_echoed_credentials_even_before_any_secret_is_known() -> None:
    event = REDACTOR(None, "error", {"event": "x", "error": "Authorization: Bearer abcdefghijkl"})
    assert event["error"] == f"Authorization: {REDACTED}"
