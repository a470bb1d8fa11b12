"""Several lists on one server: deploy/listserv-bridge@.service runs one instance per list, each
with its own config, credentials, state directory (database and lock). Checked offline (the unit,
scripts/lint-unit) and live: two daemons on two mailboxes side by side, each storing only its own
list's mail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bridge_world import NotifyListener, question, stop, wait_for
from dovecot import Account, DovecotServer
from test_unit_file import run_lint, unit_settings

from bridge.service.lock import read_lock_pid
from bridge.store.db import Store
from bridge.store.mail import MailStore

ROOT = Path(__file__).resolve().parent.parent
SINGLE = ROOT / "deploy" / "listserv-bridge.service"
TEMPLATE = ROOT / "deploy" / "listserv-bridge@.service"
DOCS = ROOT / "docs" / "deploy.md"


def test_each_instance_has_its_own_config_credentials_and_state() -> None:
    s = unit_settings(TEMPLATE.read_text())
    assert s["ExecStart"] == [
        "/opt/listserv-bridge/bin/listserv-bridge run --config /etc/listserv-bridge/%i/config.toml"]
    assert s["StateDirectory"] == ["listserv-bridge/%i"]  # the database and its lock
    assert s["ConfigurationDirectory"] == ["listserv-bridge/%i"]
    assert all(path.startswith("/etc/listserv-bridge/%i/credentials/")
               for path in (v.split(":", 1)[1] for v in s["LoadCredential"]))
    single = unit_settings(SINGLE.read_text())
    differs = {"ExecStart", "StateDirectory", "ConfigurationDirectory", "LoadCredential",
               "Description", "SyslogIdentifier"}
    for key in set(single) | set(s):  # the same hardening, limits and restart policy
        if key not in differs:
            assert s.get(key) == single.get(key), key
    docs = DOCS.read_text()
    assert "listserv-bridge@.service" in docs and "systemctl enable --now listserv-bridge@" in docs


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is missing (Debian package 'systemd')")
def test_the_template_lints_clean_with_exposure_no_worse_than_the_single_unit(tmp_path: Path) -> None:
    def score(unit: Path) -> float:
        result = run_lint(unit)
        assert result.returncode == 0, result.stderr
        assert "verify: clean" in result.stdout
        return float(re.search(r"exposure ([0-9.]+)", result.stdout).group(1))  # type: ignore[union-attr]

    assert score(TEMPLATE) <= score(SINGLE)
    broken = tmp_path / TEMPLATE.name
    broken.write_text(TEMPLATE.read_text().replace("NoNewPrivileges=yes",
                                                   "NoNewPrivileges=yes\nProtectAll=yes"))
    result = run_lint(broken)  # the instance is really verified: a bad key fails it
    assert result.returncode == 1 and "ProtectAll" in result.stderr


def instance_config(etc: Path, dovecot: DovecotServer, account: Account) -> Path:
    """What /etc/listserv-bridge/LIST/ holds: config.toml and credentials/ (IMAP only here)."""
    (etc / "credentials").mkdir(parents=True)
    (etc / "credentials" / "imap-password").write_text(account.password)
    config = etc / "config.toml"
    config.write_text(f"""
[imap]
host = "127.0.0.1"
port = {dovecot.port}
security = "starttls"
ca_file = "{dovecot.certs.ca_file}"
username = "{account.username}"
password = {{ credential = "imap-password" }}
idle_refresh = "10s"
timeout = "5s"
""")
    return config


def start_instance(name: str, tmp: Path, config: Path) -> tuple[subprocess.Popen[bytes], NotifyListener]:
    """As systemd starts listserv-bridge@NAME: its state directory and credentials directory."""
    state = tmp / "var-lib" / name
    state.mkdir(parents=True)
    sock = NotifyListener(tmp / f"{name}.notify")
    env = {**os.environ, "STATE_DIRECTORY": str(state), "NOTIFY_SOCKET": str(tmp / f"{name}.notify"),
           "CREDENTIALS_DIRECTORY": str(config.parent / "credentials"), "PYTHONUNBUFFERED": "1"}
    log = open(tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--config", str(config)],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    return proc, sock


def stored(db: Path, message_id: str) -> bool:
    if not db.exists():
        return False
    store = Store.open(db)
    try:
        return MailStore(store).has_message(message_id)
    finally:
        store.close()


def test_two_instances_on_two_mailboxes_run_side_by_side(tmp_path: Path,
                                                         dovecot_server: DovecotServer) -> None:
    lists = {"alpha": dovecot_server.add_user("alpha"), "beta": dovecot_server.add_user("beta")}
    running = {}
    try:
        for name, account in lists.items():
            config = instance_config(tmp_path / "etc" / name, dovecot_server, account)
            running[name] = start_instance(name, tmp_path, config)
        for name, (_, sock) in running.items():
            wait_for(f"{name} ready", lambda sock=sock: "READY=1" in sock.lines, 60)
        for name, account in lists.items():
            dovecot_server.append(account, question(f"q-{name}@members.example.org",
                                                    f"Question for the {name} list?"))
        dbs = {name: tmp_path / "var-lib" / name / "bridge.sqlite3" for name in lists}
        for name in lists:
            wait_for(f"{name} stores its question",
                     lambda name=name: stored(dbs[name], f"q-{name}@members.example.org"), 60)
        locks = {name: read_lock_pid(Path(f"{dbs[name]}.lock")) for name in lists}
        assert locks == {name: proc.pid for name, (proc, _) in running.items()}  # two locks
        assert not stored(dbs["alpha"], "q-beta@members.example.org")
        assert not stored(dbs["beta"], "q-alpha@members.example.org")
        assert all(proc.poll() is None for proc, _ in running.values())  # neither stopped
    finally:
        for proc, sock in running.values():
            if proc.poll() is None:
                assert stop(proc) == 0
            sock.close()
    assert sorted(p.name for p in (tmp_path / "var-lib").iterdir()) == ["alpha", "beta"]
