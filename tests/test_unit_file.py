"""The systemd unit: what the daemon relies on, and scripts/lint-unit (verify + security score)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "listserv-bridge.service"
LINT = ROOT / "scripts" / "lint-unit"
DOCS = ROOT / "docs" / "deploy.md"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing (Debian package 'systemd'; scripts/test installs it)",
)


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every Key=value of the unit (keys may repeat, like LoadCredential=)."""
    settings: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings[key.strip()].append(value.strip())
    return settings


def run_lint(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), str(unit)], capture_output=True, text=True, timeout=120, check=False)


def test_the_unit_runs_the_daemon_as_a_watched_notify_service() -> None:
    s = unit_settings(UNIT.read_text())
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["WatchdogSec"] == ["120"]
    assert s["Restart"] == ["on-failure"]
    assert s["ExecStart"] == [
        "/opt/listserv-bridge/bin/listserv-bridge run --config /etc/listserv-bridge/config.toml"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["RestartPreventExitStatus"] == ["2"]  # a config error exits 2: no restart loop


def test_a_daemon_crashing_at_start_stops_restarting_and_memory_is_bounded() -> None:
    """Issue 13: with RestartSec=10 systemd's default start limit (5 in 10 s) never triggered,
    and no memory limit was set."""
    s = unit_settings(UNIT.read_text())
    restart = int(s["RestartSec"][0])
    interval, burst = int(s["StartLimitIntervalSec"][0]), int(s["StartLimitBurst"][0])
    assert burst * restart < interval  # back-to-back failed starts do hit the limit
    assert interval <= 3600 and burst >= 3  # and a rare crash does not

    def mib(value: str) -> int:
        return int(value.removesuffix("M"))

    high, most = mib(s["MemoryHigh"][0]), mib(s["MemoryMax"][0])
    assert 150 < high < most <= 1024  # above the daemon's ingest peak, below a runaway
    docs = DOCS.read_text()
    assert all(key in docs for key in ("StartLimitBurst", "MemoryHigh", "MemoryMax"))


def test_the_unit_writes_only_its_state_directory_as_a_dynamic_user() -> None:
    s = unit_settings(UNIT.read_text())
    assert s["DynamicUser"] == ["yes"]
    assert s["StateDirectory"] == ["listserv-bridge"]
    assert s["ConfigurationDirectory"] == ["listserv-bridge"]
    assert s["ProtectSystem"] == ["strict"]
    assert "ReadWritePaths" not in s
    assert s["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]


def test_every_secret_comes_from_a_root_owned_credential_file_that_the_docs_explain() -> None:
    creds = dict(v.split(":", 1) for v in unit_settings(UNIT.read_text())["LoadCredential"])
    assert sorted(creds) == sorted([
        "imap-password", "smtp-password", "x-consumer-key", "x-consumer-secret",
        "x-access-token", "x-access-token-secret"])
    docs = DOCS.read_text()
    for name, path in creds.items():
        assert path == f"/etc/listserv-bridge/credentials/{name}"
        assert f'credential = "{name}"' in docs, f"docs/deploy.md does not show {name} in config"


@needs_analyze
def test_lint_unit_passes_the_shipped_unit_with_a_score_of_at_most_1_5() -> None:
    result = run_lint(UNIT)
    assert result.returncode == 0, result.stderr
    assert "verify: clean" in result.stdout
    score = float(re.search(r"security: exposure ([0-9.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    assert score <= 1.5


@needs_analyze
def test_lint_unit_fails_on_an_unknown_key_although_verify_exits_0(tmp_path: Path) -> None:
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("NoNewPrivileges=yes", "NoNewPrivileges=yes\nProtectAll=yes"))
    result = run_lint(unit)
    assert result.returncode == 1
    assert "Unknown key 'ProtectAll'" in result.stderr


@needs_analyze
def test_lint_unit_fails_when_a_helper_program_does_not_exist(tmp_path: Path) -> None:
    """Only the bridge's own program under /opt is stubbed; /bin/kill must really exist."""
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("ExecReload=/bin/kill", "ExecReload=/bin/no-such-kill"))
    result = run_lint(unit)
    assert result.returncode == 1
    assert "/bin/no-such-kill" in result.stderr


@needs_analyze
def test_lint_unit_fails_when_hardening_is_removed(tmp_path: Path) -> None:
    weak = [line for line in UNIT.read_text().splitlines()
            if not line.startswith(("SystemCallFilter", "Protect", "Private"))]
    unit = tmp_path / UNIT.name
    unit.write_text("\n".join(weak) + "\n")
    result = run_lint(unit)
    assert result.returncode == 1
    assert "is above 1.5" in result.stderr
