"""Shared fixtures: a real, private Dovecot IMAP server (see tests/dovecot.py); a private
PostgreSQL (tests/postgres.py) and the Bluesky dev-env network on it (tests/atproto_network.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from atproto_network import DevNetwork, devenv_missing
from dovecot import DOVECOT, Account, DovecotServer
from postgres import PostgresServer, find_bindir

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL on 127.0.0.1 for the session (initdb in a temp dir)."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("needs PostgreSQL's initdb and pg_ctl (Debian postgresql; scripts/test installs it)")
    server = PostgresServer(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def atproto_network(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNetwork]:
    """PLC, PDS and the AppView of @atproto/dev-env on loopback for the session. Without
    PostgreSQL on this machine, PLC and PDS only (`appview` is None; tests that need it skip)."""
    missing = devenv_missing()
    if missing:
        pytest.skip(missing)
    postgres = request.getfixturevalue("postgres_server") if find_bindir() is not None else None
    network = DevNetwork.start(tmp_path_factory.mktemp("devenv"), postgres.url if postgres else None)
    try:
        yield network
    finally:
        network.close()
