"""Logs: JSON lines off a terminal, and no secret value ever reaches a log line (canaries)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog

from bridge.cli.main import main
from bridge.config.secrets import SecretRef
from bridge.service.log import REDACTED, REDACTOR, configure_logging

CANARY = "canary-Zq8x-41f7-secret"


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    yield
    REDACTOR.secrets = []
    structlog.reset_defaults()  # as other tests expect it (capture_logs sees debug events)


def test_known_secrets_are_masked_everywhere_in_an_event() -> None:
    out = io.StringIO()
    configure_logging("debug", stream=out, json=True)
    REDACTOR.add([CANARY])
    log = structlog.get_logger()
    log.error("imap_login_failed", error=f"LOGIN user {CANARY} refused",
              nested={"headers": [f"Authorization: OAuth {CANARY}"]}, exc=ValueError(CANARY))
    try:
        raise RuntimeError(f"token {CANARY} rejected")
    except RuntimeError:
        log.exception("x_call_failed")
    text = out.getvalue()
    assert CANARY not in text and text.count(REDACTED) >= 4
    for line in text.splitlines():
        json.loads(line)  # every line is one JSON object


def test_the_cli_registers_every_configured_secret_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ("imap", "ck", "cs", "at", "ats", "smtp")
    for name in names:
        (tmp_path / name).write_text(f"{CANARY}-{name}")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"""
[store]
path = "{tmp_path / 'b.sqlite3'}"
[imap]
host = "127.0.0.1"
port = 1
username = "u"
password = {{ file = "{tmp_path / 'imap'}" }}
timeout = "1s"
[x]
api_base_url = "http://127.0.0.1:1"
consumer_key = {{ file = "{tmp_path / 'ck'}" }}
consumer_secret = {{ file = "{tmp_path / 'cs'}" }}
access_token = {{ file = "{tmp_path / 'at'}" }}
access_token_secret = {{ file = "{tmp_path / 'ats'}" }}
[smtp]
host = "127.0.0.1"
port = 1
username = "u"
password = {{ file = "{tmp_path / 'smtp'}" }}
""")
    assert main(["check", "--config", str(cfg)]) == 1  # nothing listens on port 1
    captured = capsys.readouterr()
    assert all(f"{CANARY}-{name}" in REDACTOR.secrets for name in names)
    assert CANARY not in captured.out + captured.err


def test_a_command_secret_is_masked_once_it_has_been_run(tmp_path: Path) -> None:
    """Issue 9: {command} secrets were never registered, nor the new ones after a SIGHUP."""
    out = io.StringIO()
    configure_logging("info", stream=out, json=True)
    for n in (1, 2):  # the second stands for the command a reloaded config names
        script = tmp_path / f"token{n}"
        script.write_text(f"#!/bin/sh\necho {CANARY}-{n}\n")
        script.chmod(0o700)
        token = SecretRef("command", (str(script),)).resolve()
        structlog.get_logger().warning("x_call_failed", error=f"401: Bearer {token} refused")
    assert CANARY not in out.getvalue() and out.getvalue().count(REDACTED) == 2


def test_settings_made_before_structlog_loads_apply_when_a_module_first_imports_it() -> None:
    """configure_logging does not load structlog (status never needs it); the first module that
    imports it finds it configured: level, JSON, secrets masked."""
    import subprocess
    import sys

    code = ("import sys; from bridge.service.log import REDACTOR, configure_logging; "
            "configure_logging('warning', json=True); configure_logging('info', json=True); "
            f"REDACTOR.add([{CANARY!r}]); "
            "assert 'structlog' not in sys.modules; "
            "import structlog; log = structlog.get_logger(); "
            f"log.debug('hidden'); log.info('shown', token={CANARY!r}); "
            "from bridge.stages import publish")  # a module that logs: imports it again, no effect
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    [line] = done.stderr.splitlines()
    assert json.loads(line) | {"timestamp": ""} == {"event": "shown", "level": "info",
                                                    "token": REDACTED, "timestamp": ""}
