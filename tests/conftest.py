"""Shared fixtures: a real, private Dovecot IMAP server (see tests/dovecot.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from dovecot import DOVECOT, Account, DovecotServer

from bridge import redact, stopping


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """A test that runs the CLI configures structlog onto that test's captured stderr; the next
    test would write to a closed file. Every test starts from structlog's defaults."""
    yield
    stopping.clear()  # a daemon run in-process may have asked adapters to stop retrying
    structlog.reset_defaults()
    redact.forget_all()  # secret values one test resolved are not another test's secrets


def _require_dovecot() -> None:
    if not Path(DOVECOT).exists() or shutil.which("openssl") is None:
        pytest.skip("needs Dovecot (Debian dovecot-imapd) and the openssl command")


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """One Dovecot for the whole session; tests stay independent by using their own user."""
    _require_dovecot()
    server = DovecotServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def imap_account(dovecot_server: DovecotServer) -> Account:
    """A fresh user with an empty mailbox on the session Dovecot."""
    return dovecot_server.add_user()


@pytest.fixture
def make_dovecot() -> Iterator[Callable[..., DovecotServer]]:
    """Start Dovecots of the test's own (`extra_config` is appended to dovecot.conf)."""
    _require_dovecot()
    servers: list[DovecotServer] = []

    def start(extra_config: str = "") -> DovecotServer:
        server = DovecotServer(extra_config=extra_config)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.cleanup()


@pytest.fixture
def private_dovecot(make_dovecot: Callable[..., DovecotServer]) -> DovecotServer:
    """A Dovecot of the test's own, for tests that stop, kill or restart the server."""
    return make_dovecot()
