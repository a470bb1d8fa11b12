"""`listserv-bridge ingest` over IMAP against real Dovecot: config, TLS, cursor, resync, problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dovecot import Account, DovecotServer

from bridge.cli.main import main


def message(n: int, parent: int | None = None) -> bytes:
    refs = f"In-Reply-To: <q{parent}@example.org>\nReferences: <q{parent}@example.org>\n" if parent else ""
    subject = f"Re: Koha question {parent}" if parent else f"Koha question {n}"
    return (f"Message-ID: <q{n}@example.org>\nFrom: Member {n} <m{n}@example.org>\n"
            f"Date: Mon, 2 Nov 2026 09:{n:02d}:00 +0000\nSubject: {subject}\n{refs}"
            f"List-Id: <sla-dsol.googlegroups.com>\n\nHow do I fix {n}?\n").encode()


def write_config(tmp_path: Path, server: DovecotServer, account: Account, folder: str) -> str:
    secret = tmp_path / "imap-password"
    secret.write_text(account.password)
    cfg = tmp_path / "bridge.toml"
    cfg.write_text(
        f'[store]\npath = "{tmp_path / "bridge.sqlite3"}"\n'
        f'[imap]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "starttls"\n'
        f'username = "{account.username}"\npassword = {{ file = "{secret}" }}\n'
        f'folder = "{folder}"\nca_file = "{server.certs.ca_file}"\nbatch_size = 2\n'
    )
    return str(cfg)


def threads(cfg: str, capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    assert main(["threads", "--json", "--config", cfg]) == 0
    return {r["root"]: r["messages"] for r in map(json.loads, capsys.readouterr().out.splitlines())}


def test_imap_pass_is_incremental_survives_resync_and_records_bad_mail(
    tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for raw in (message(1), message(2, parent=1), message(3)):
        dovecot_server.append(imap_account, raw, folder="Lists")
    cfg = write_config(tmp_path, dovecot_server, imap_account, "Lists")
    assert main(["ingest", "--config", cfg]) == 0
    assert "ingested 3 new messages" in capsys.readouterr().out
    assert threads(cfg, capsys) == {"q1@example.org": ["q1@example.org", "q2@example.org"],
                                    "q3@example.org": ["q3@example.org"]}

    # incremental: only what is new is fetched; a message with no headers is a problem, not a stop
    dovecot_server.append(imap_account, b"\r\n\r\nno headers at all\r\n", folder="Lists")
    dovecot_server.append(imap_account, message(4, parent=3), folder="Lists")
    assert main(["ingest", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "ingested 1 new messages (0 duplicates, 1 problems" in out

    # the folder is recreated: new UIDVALIDITY; a resync re-reads everything, stores nothing twice
    with dovecot_server.admin(imap_account) as admin:
        admin.delete_folder("Lists")
        admin.create_folder("Lists")
    for n, parent in ((1, None), (2, 1), (3, None), (4, 3), (5, None)):
        dovecot_server.append(imap_account, message(n, parent), folder="Lists")
    assert main(["ingest", "--config", cfg]) == 0
    assert "ingested 1 new messages (4 duplicates" in capsys.readouterr().out
    assert sorted(threads(cfg, capsys)) == ["q1@example.org", "q3@example.org", "q5@example.org"]

    # read-only: nothing was marked \Seen by the bridge
    with dovecot_server.admin(imap_account) as admin:
        admin.select_folder("Lists", readonly=True)
        flags = admin.get_flags(admin.search("ALL"))
    assert all(b"\\Seen" not in f for f in flags.values())


def test_wrong_password_is_a_clear_failure(
    tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = write_config(tmp_path, dovecot_server, Account(imap_account.username, "wrong-pw"), "INBOX")
    assert main(["ingest", "--config", cfg]) == 1
    err = capsys.readouterr().err
    assert "login refused" in err and "wrong-pw" not in err
