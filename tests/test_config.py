"""Config: defaults, every problem listed at once with its key path, secrets never inline."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.config.settings import Config, check_secrets, load_config, parse_config
from bridge.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "config.example.toml"


def test_no_file_means_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    config = load_config(None)
    assert config == Config()
    assert config.imap is None
    assert config.db_path() == "bridge.sqlite3"
    assert config.db_path(str(tmp_path / "x.db")) == str(tmp_path / "x.db")
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/listserv-bridge")
    assert config.db_path() == "/var/lib/listserv-bridge/bridge.sqlite3"


def test_the_shipped_example_is_refused_until_its_placeholders_are_replaced() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(str(EXAMPLE))
    text = "\n".join(err.value.problems)
    assert "list.address" in text and "placeholder" in text
    assert "imap.host" in text and "imap.username" in text


def test_every_example_key_is_documented_by_a_comment() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"undocumented key: {line}"


def test_all_problems_are_listed_at_once_with_key_paths(tmp_path: Path) -> None:
    data = tomllib.loads(
        """
        surprise = 1
        [list]
        address = "not-an-address"
        [imap]
        host = "imap.example.net"
        port = 99999
        security = "plain"
        password = "hunter2"
        idle_refresh = "soon"
        colour = "blue"
        """
    )
    with pytest.raises(ConfigError) as err:
        parse_config(data, "bridge.toml")
    problems = "\n".join(err.value.problems)
    for expected in ("list.address", "imap.username: required", "imap.port",
                     "imap.security: plaintext", "imap.password: secrets must not be written",
                     "imap.idle_refresh", "imap.colour: unknown key", "surprise"):
        assert expected in problems, expected
    assert "hunter2" not in str(err.value)


def test_plaintext_imap_is_accepted_only_for_loopback_with_explicit_permission(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    base = {"host": "127.0.0.1", "username": "u", "security": "plain",
            "password": {"file": str(secret)}}
    with pytest.raises(ConfigError):
        parse_config({"imap": base}, "c")
    config = parse_config({"imap": {**base, "allow_plaintext": True}}, "c")
    assert config.imap is not None and config.imap.port == 143
    assert config.imap.password is not None and config.imap.password.resolve() == "s3cret"


def test_secret_sources_are_checked_when_a_command_uses_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading reads no secret; check_secrets lists every unreadable one (all, or per section)."""
    imap = {"host": "imap.example.net", "username": "u"}
    config = parse_config({"imap": {**imap, "password": {"env": "IMAP_PW"}}}, "c")
    with pytest.raises(ConfigError, match="IMAP_PW is not set"):
        check_secrets(config)
    check_secrets(config, ("smtp",))  # another section's secret: not this command's business
    monkeypatch.setenv("IMAP_PW", "pw-from-env")
    check_secrets(config)
    assert config.imap is not None and config.imap.password is not None
    assert config.imap.password.resolve() == "pw-from-env"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = parse_config({"imap": {**imap, "password": {"credential": "imap-password"}}}, "c")
    with pytest.raises(ConfigError, match="CREDENTIALS_DIRECTORY"):
        check_secrets(config)
    (tmp_path / "imap-password").write_text("pw-from-systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    check_secrets(config)
    assert config.imap is not None and config.imap.password is not None
    assert config.imap.password.resolve() == "pw-from-systemd"


def test_xoauth2_takes_a_token_command_run_at_connect_time() -> None:
    imap = {"host": "imap.example.net", "username": "u", "auth": "xoauth2",
            "oauth2_token": {"command": ["printf", "tok-123"]}}
    config = parse_config({"imap": imap}, "c")
    assert config.imap is not None and config.imap.oauth2_token is not None
    assert config.imap.oauth2_token.resolve() == "tok-123"
    with pytest.raises(ConfigError, match=r"imap\.oauth2_token: required"):
        parse_config({"imap": {k: v for k, v in imap.items() if k != "oauth2_token"}}, "c")


def test_unreadable_or_invalid_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[imap\nhost=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(bad))


def test_the_example_filled_in_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXAMPLE.read_text().replace("CHANGE-ME", "filled-in")
    for name in ("imap-password", "x-consumer-key", "x-consumer-secret", "x-access-token",
                 "x-access-token-secret", "smtp-password"):
        (tmp_path / name).write_text("secret-" + name)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    config = parse_config(tomllib.loads(text), "example")
    assert config.imap is not None and config.imap.host == "imap.filled-in.example"
    assert config.matcher.unanswered_after.total_seconds() == 48 * 3600
    assert config.compose.hashtags == ("#sololibrarians",)
    assert config.x is not None and config.smtp is not None and config.relay is not None
    assert config.relay.from_address == "bridge@filled-in.example"


def test_matcher_and_links_problems_are_reported_with_key_paths() -> None:
    data = {"matcher": {"unanswered_after": "8d", "max_age": "7d", "not_request_subject": {"x": ["("]}},
            "links": {"strategy": "template"}, "post": {"hashtags": ["no-hash"]}}
    with pytest.raises(ConfigError) as err:
        parse_config(data, "c")
    text = "\n".join(err.value.problems)
    assert "matcher: unanswered_after must be shorter than max_age" in text
    assert "links.url_template: required" in text
    assert "post.hashtags" in text
    assert "matcher:" in text and "(" in text


def test_reading_config_loads_no_adapter_or_network_library() -> None:
    """Config is values only: the adapters (tweepy, imapclient, smtplib) are built by the CLI."""
    import subprocess
    import sys

    code = ("import sys, bridge.config.settings; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tweepy', 'imapclient', 'smtplib', 'requests') or m.startswith(('bridge.adapters', "
            "'bridge.stages', 'bridge.service', 'bridge.store')))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.split() == []
