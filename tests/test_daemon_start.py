"""The daemon's start, in process: what it holds is released whatever fails."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import bridge.service.daemon as daemon_module
from bridge.config.settings import Config
from bridge.errors import ConfigError
from bridge.service.daemon import Daemon
from bridge.service.lock import StateLock
from bridge.service.notify import Notifier
from bridge.service.pipeline import Services
from bridge.store.db import Store


def test_a_failing_build_releases_the_store_the_lock_and_the_signal_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 9: when building the services failed at start, the store stayed open and the
    daemon's signal handlers stayed installed."""
    opened: list[Store] = []
    real_open = Store.open

    def recording_open(path: str | Path) -> Store:
        opened.append(real_open(path))
        return opened[-1]

    def failing_build(config: Config) -> Services:
        raise ConfigError(["x.consumer_key: secret command false exited 1"])

    monkeypatch.setattr(daemon_module.Store, "open", recording_open)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    db = str(tmp_path / "state" / "b.sqlite3")
    with pytest.raises(ConfigError):
        Daemon(Config(), None, db, failing_build, Notifier()).run()
    assert {s: signal.getsignal(s) for s in before} == before
    assert len(opened) == 1
    with pytest.raises(Exception, match="closed"):
        opened[0].conn.execute("SELECT 1")
    with StateLock(db):  # a new daemon may start
        pass
