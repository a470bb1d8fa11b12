"""`check` against real servers (Dovecot, aiosmtpd, the fake X), and `status` on a real store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import structlog
from dovecot import Account, DovecotServer
from fake_x import FakeX
from smtp_server import RecordingHandler, SmtpServer, free_port

from bridge.cli.main import main


def config_text(tmp: Path, dovecot: DovecotServer, account: Account, password: str,
                x_url: str, x_token: str, smtp_port: int) -> Path:
    for name, value in (("imap", password), ("ck", "k"), ("cs", "s"), ("at", x_token), ("ats", "t")):
        (tmp / name).write_text(value)
    cfg = tmp / "bridge.toml"
    cfg.write_text(f"""
[store]
path = "{tmp / 'bridge.sqlite3'}"
[imap]
host = "127.0.0.1"
port = {dovecot.tls_port}
security = "tls"
ca_file = "{dovecot.certs.ca_file}"
username = "{account.username}"
password = {{ file = "{tmp / 'imap'}" }}
[x]
api_base_url = "{x_url}"
consumer_key = {{ file = "{tmp / 'ck'}" }}
consumer_secret = {{ file = "{tmp / 'cs'}" }}
access_token = {{ file = "{tmp / 'at'}" }}
access_token_secret = {{ file = "{tmp / 'ats'}" }}
timeout = "3s"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
allow_plaintext = true
timeout = 3
attempts = 1
""")
    return cfg


def test_check_passes_when_every_service_answers(
    tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FakeX() as fake, SmtpServer(RecordingHandler()) as smtp:
        fake.add_user("solobridge", "Bridge", access_token="good-token")
        cfg = config_text(tmp_path, dovecot_server, imap_account, imap_account.password,
                          fake.base_url, "good-token", smtp.port)
        assert main(["check", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "[PASS] IMAP" in out and "UIDVALIDITY" in out
    assert "[PASS] SMTP" in out and "[PASS] X: posting as @solobridge" in out
    assert "all checks passed" in out


def test_check_reports_each_failure_with_a_fix_and_no_secret(
    tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FakeX() as fake:
        fake.add_user("solobridge", "Bridge", access_token="good-token")
        cfg = config_text(tmp_path, dovecot_server, imap_account, "wrong-imap-pw",
                          fake.base_url, "revoked-token", free_port())
        assert main(["check", "--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] IMAP" in out and "refused the credentials" in out
    assert "[FAIL] SMTP" in out and "could not be reached" in out
    assert "[FAIL] X" in out
    assert "3 check(s) failed" in out
    assert "wrong-imap-pw" not in out and "revoked-token" not in out


def test_status_json_tells_the_truth_about_the_store(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "b.sqlite3")
    example = Path(__file__).resolve().parent.parent / "examples" / "sololibrarians.mbox"
    assert main(["ingest", "--mbox", str(example), "--db", db, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["status", "--json", "--db", db]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["messages"] == 49 and status["threads"] == 26
    assert status["posts"] == {} and status["last_cycle_at"] is None
    assert status["posts_today"] == 0 and status["spend_this_month_usd"] == 0
    assert main(["status", "--db", db]) == 0
    text = capsys.readouterr().out
    assert "messages ingested: 49 in 26 threads" in text and "last cycle: never" in text


def test_the_deploy_guides_admin_commands_need_no_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """status, threads, moderate list and ingest --mbox read no secret: with every secret a
    systemd credential and no $CREDENTIALS_DIRECTORY they work; run and check still refuse,
    naming each secret they cannot read."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = tmp_path / "bridge.toml"
    cfg.write_text(f"""
[store]
path = "{tmp_path / 'bridge.sqlite3'}"
[imap]
host = "imap.example.org"
username = "bridge"
password = {{ credential = "imap-password" }}
[x]
consumer_key = {{ credential = "x-consumer-key" }}
consumer_secret = {{ credential = "x-consumer-secret" }}
access_token = {{ credential = "x-access-token" }}
access_token_secret = {{ credential = "x-access-token-secret" }}
[smtp]
host = "smtp.example.org"
username = "bridge"
password = {{ credential = "smtp-password" }}
[relay]
from_address = "bridge@example.org"
list_address = "list@example.org"
admin_contact = "admin@example.org"
""")
    example = Path(__file__).resolve().parent.parent / "examples" / "sololibrarians.mbox"
    for argv in (["ingest", "--mbox", str(example), "--no-progress"], ["status"], ["threads"],
                 ["moderate", "list"]):
        assert main([*argv, "--config", str(cfg)]) == 0, argv
    assert "CREDENTIALS_DIRECTORY" not in capsys.readouterr().err
    try:
        for argv in (["check"], ["run"]):
            assert main([*argv, "--config", str(cfg)]) == 2, argv
            err = capsys.readouterr().err
            assert err.count("$CREDENTIALS_DIRECTORY is not set") == 6, err
    finally:
        structlog.reset_defaults()  # `run` logs to the captured stdout: leave no closed stream behind


def test_check_and_status_never_show_a_secret_a_server_echoes(
    tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 13: an X server whose 401 echoes the Authorization header (OAuth 1.0a: consumer
    key and access token) must not put them on screen, in the database or in `status`."""
    with FakeX() as fake:
        fake.echo_auth = True
        fake.add_user("solobridge", "Bridge", access_token="good-token")
        cfg = config_text(tmp_path, dovecot_server, imap_account, imap_account.password,
                          fake.base_url, "revoked-token-7f3a", free_port())
        (tmp_path / "ck").write_text("consumer-key-9d2e")
        assert main(["check", "--config", str(cfg)]) == 1
        assert any("revoked-token-7f3a" in str(r.headers) for r in fake.requests)  # it was sent
    out = capsys.readouterr().out
    assert "[FAIL] X" in out and "401" in out and "[REDACTED]" in out
    assert "revoked-token-7f3a" not in out and "consumer-key-9d2e" not in out
    assert "oauth_signature=\"" not in out or "oauth_signature=\"[REDACTED]" in out
    store = tmp_path / "bridge.sqlite3"
    conn = sqlite3.connect(store)  # an error row written before redaction existed
    conn.execute("INSERT INTO stage_status(stage, last_error, last_error_at, errors) VALUES "
                 "('publish', 'X post: HTTP 401 Authorization: OAuth oauth_token=\"t-123456\"', 1, 1)")
    conn.commit()
    conn.close()
    assert main(["status", "--config", str(cfg), "--json"]) == 0
    shown = capsys.readouterr().out
    assert "t-123456" not in shown and "[REDACTED]" in shown


def test_check_and_preview_say_when_the_list_has_no_link_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 11 item 7: a classic Mailman 2 list without List-Archive, no Archived-At, not a
    Google Group: say so plainly, with the setting to add, instead of "no usable link" per post."""
    mbox = tmp_path / "list.mbox"
    mbox.write_text("".join(
        f"From ann@example.org Tue Mar  4 10:00:00 2025\nMessage-ID: <q{n}@example.org>\n"
        f"From: Ann <ann@example.org>\nDate: Tue, 4 Mar 2025 10:0{n}:00 +0000\n"
        f"Subject: Question {n} about serials\nList-Id: <solo.lists.example.org>\n\n"
        f"How do I renew serial {n} in Koha?\n\n" for n in range(3)))
    cfg = tmp_path / "bridge.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "b.sqlite3"}"\n')
    assert main(["ingest", "--config", str(cfg), "--mbox", str(mbox)]) == 0
    capsys.readouterr()
    assert main(["check", "--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] thread links: no link source for this list" in out
    assert "url_template" in out and "archive_url" in out
    assert main(["preview", "--config", str(cfg)]) == 0
    assert "note: no link source for this list" in capsys.readouterr().out
    (tmp_path / "list2.mbox").write_text(mbox.read_text().replace(
        "List-Id: <solo.lists.example.org>\n",
        "List-Id: <solo.lists.example.org>\nList-Archive: <http://lists.example.org/pipermail/solo/>\n"
    ).replace("@example.org>\nFrom:", "@example.net>\nFrom:"))
    assert main(["ingest", "--config", str(cfg), "--mbox", str(tmp_path / "list2.mbox")]) == 0
    assert main(["check", "--config", str(cfg)]) == 1  # IMAP, SMTP, X are missing
    assert "[PASS] thread links" in capsys.readouterr().out
