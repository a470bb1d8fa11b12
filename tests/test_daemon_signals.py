"""Signals reaching the daemon while it waits in IMAP IDLE, with the example config's own IMAP
timings (`timeout = "30s"`, `idle_refresh = "10m"`): a stop is quick, and a refused reload leaves
the IMAP session and the old config working."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_world import NotifyListener, World, make_world, question, running, wait_for
from dovecot import Account, DovecotServer

STOP_BOUND = 5.0  # seconds: the unit's TimeoutStopSec is 15, a stop must end well before it


@pytest.fixture
def world(tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account) -> Iterator[World]:
    with make_world(tmp_path, dovecot_server, imap_account) as built:
        built.use_example_imap_timeouts()
        yield built


def idling(world: World, notify: NotifyListener, times: int = 1) -> None:
    """Wait until the daemon has entered IMAP IDLE `times` times in all (debug log)."""
    wait_for("READY=1", lambda: "READY=1" in notify.lines, 30)
    wait_for("the daemon in IDLE", lambda: world.log_count("imap_idle_started") >= times, 30)


def test_sigterm_in_idle_ends_idle_and_stops_within_seconds(world: World) -> None:
    """Issue 9: LOGOUT without DONE waited out the whole 30 s timeout (SIGKILL under systemd)."""
    with running(world, "--log-level", "debug") as (proc, notify):
        idling(world, notify)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_BOUND) == 0
    assert "imap_closed" in world.log() and "STOPPING=1" in notify.lines


def test_a_refused_reload_in_idle_leaves_the_imap_session_usable(world: World) -> None:
    """Issue 9: after a SIGHUP with a bad config the session stayed inside IDLE; the next command
    broke the protocol and the daemon missed new mail."""
    with running(world, "--log-level", "debug") as (proc, notify):
        idling(world, notify)
        good = world.config.read_text()
        world.config.write_text(good + "\n[bogus\n")
        proc.send_signal(signal.SIGHUP)
        wait_for("the bad config refused", lambda: "config_reload_refused" in world.log(), 20)
        world.config.write_text(good)
        world.dovecot.append(world.account, question())
        wait_for("the question posted", world.posts, 60)
        wait_for("IDLE again", lambda: world.log_count("imap_idle_started") >= 2, 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_BOUND) == 0
    log = world.log()
    assert "stage_failed" not in log and "imap_wait_failed" not in log, log


def test_a_reload_whose_secret_command_fails_keeps_the_old_config_running(world: World) -> None:
    """Issue 9: the mailbox was closed before the new services were built, and a failing
    {command} secret then ended the daemon; the README promises the old config is kept."""
    with running(world) as (proc, notify):
        wait_for("READY=1", lambda: "READY=1" in notify.lines, 30)
        good = world.config.read_text()
        world.edit_config(f'consumer_key = {{ file = "{world.tmp / "secrets" / "ck"}" }}',
                          'consumer_key = { command = ["false"] }')
        proc.send_signal(signal.SIGHUP)
        wait_for("the reload refused", lambda: "config_reload_refused" in world.log(), 20)
        world.config.write_text(good)
        assert proc.poll() is None
        world.dovecot.append(world.account, question())
        posts = wait_for("the question posted with the old config", world.posts, 60)
        assert len(posts) == 1  # type: ignore[arg-type]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_BOUND) == 0
