"""Output for people and for machines: the command's output on stdout (pure JSON with --json), logs
on stderr (readable on a terminal, JSON under systemd or with --log-format json); and commands
start without loading any network library."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sololibrarians.mbox"
NETWORK = ("tweepy", "imapclient", "imaplib", "smtplib", "requests", "urllib3", "http.client",
           "twitter_text", "mailparser", "atproto", "mastodon", "httpx", "aiosmtpd")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, env={**base, **(env or {})}, timeout=300)


def test_importing_the_cli_loads_no_network_library() -> None:
    code = ("import json, sys, bridge.cli.main; "
            f"print(json.dumps(sorted(m for m in {list(NETWORK)!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert json.loads(done.stdout) == []


HEAVY = ("jinja2", "structlog", "twitter_text", "mailparser", "email.mime")  # what status needs not


def test_status_and_threads_load_no_network_library_template_engine_or_logger(
        tmp_path: Path) -> None:
    """On a database with threads due now and soon (the example, its dates moved to last week),
    `status` decides them without loading what drafting, logging or the networks need."""
    spec = importlib.util.spec_from_file_location("startup_bench", ROOT / "bench" / "startup_bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    mbox, db = tmp_path / "recent.mbox", str(tmp_path / "b.sqlite3")
    mbox.write_bytes(bench.recent_example())
    assert cli("ingest", "--mbox", str(mbox), "--db", db, "--no-progress").returncode == 0
    for command in ("status", "threads"):
        code = ("import json, sys; from bridge.cli.main import main; "
                f"code = main([{command!r}, '--db', {db!r}]); "
                f"print(json.dumps(sorted(m for m in {list(NETWORK + HEAVY)!r} if m in sys.modules)),"
                " file=sys.stderr); sys.exit(code)")
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stderr.splitlines()[-1]) == [], command
        if command == "status":
            due = re.search(r"threads due now: (\d+), due soon: (\d+)", done.stdout)
            assert due and int(due.group(1)) + int(due.group(2)) >= 3, done.stdout  # work was done


def test_json_outputs_are_pure_json_and_logs_go_to_stderr(tmp_path: Path) -> None:
    db = str(tmp_path / "b.sqlite3")
    ingest = cli("ingest", "--mbox", str(EXAMPLE), "--db", db, "--no-progress",
                 "--log-format", "console")
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout.startswith("ingested 49 new messages") and "ingest_finished" not in ingest.stdout
    assert "ingest_finished" in ingest.stderr
    for args in (["threads"], ["status"], ["preview"], ["moderate", "list"],
                 ["backtest", "--mbox", str(EXAMPLE)],
                 ["backtest", "--mbox", str(EXAMPLE), "--thresholds", "24h,48h"]):
        extra = [] if args[0] == "backtest" else ["--db", db]
        done = cli(*args, *extra, "--json", "--log-level", "debug", "--log-format", "console")
        assert done.returncode == 0, (args, done.stderr)
        lines = done.stdout.splitlines()
        assert lines or args[0] == "moderate", args  # no held reply: nothing to list
        for line in lines:
            json.loads(line)  # every stdout line is one JSON value


def test_logs_are_json_under_systemd_or_when_asked_and_readable_otherwise(tmp_path: Path) -> None:
    def log_lines(*args: str, env: dict[str, str] | None = None) -> list[str]:
        done = cli("ingest", "--mbox", str(EXAMPLE), "--db", str(tmp_path / "b.sqlite3"),
                   "--no-progress", *args, env=env)
        assert done.returncode == 0, done.stderr
        return [line for line in done.stderr.splitlines() if "ingest_finished" in line]

    for lines in (log_lines(env={"JOURNAL_STREAM": "8:12345"}), log_lines("--log-format", "json")):
        assert lines and json.loads(lines[0])["event"] == "ingest_finished"
    console = log_lines("--log-format", "console")
    assert console and not console[0].lstrip().startswith("{")
