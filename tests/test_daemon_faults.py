"""The daemon under faults, as a real subprocess: IMAP restarted during IDLE, X answering 429 and
503, the SMTP server down for a while; and SIGHUP reloads, a second instance refused."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from email import message_from_bytes
from pathlib import Path

import pytest
from bridge_world import ROOT, make_world, question, stop, wait_for
from dovecot import DovecotServer
from fake_x import CREATE, MENTIONS
from smtp_server import SmtpServer


@pytest.mark.slow
def test_daemon_survives_faults_and_catches_up(tmp_path: Path, private_dovecot: DovecotServer) -> None:
    account = private_dovecot.add_user()
    with make_world(tmp_path, private_dovecot, account) as world, ExitStack() as stack:
        world.smtp.stop()  # the list's SMTP server is down at first
        world.fake.rate_limit_next(CREATE, reset_at=int(time.time()) + 12)
        world.fake.fail_next(MENTIONS, 503)
        proc, notify = world.start("--log-level", "debug")
        try:
            wait_for("READY=1", lambda: "READY=1" in notify.lines, 30)
            wait_for("the daemon in IMAP IDLE", lambda: "imap_idle_started" in world.log(), 30)
            private_dovecot.restart()
            private_dovecot.append(account, question("fault-q1@members.example.org",
                                                     "Koha: how do I fix a stuck serials claim?"))
            posts = wait_for("the post after the 429's reset", world.posts, 60)
            assert "rate" in world.log() and len(posts) == 1  # type: ignore[arg-type]
            post = posts[0]  # type: ignore[index]
            world.fake.add_reply(post.id, world.helper, "Reset the claim date in Serials > Claims")
            wait_for("the relay to wait for SMTP", lambda: "relay_deferred" in world.log(), 60)
            assert world.handler.delivered == []
            # SMTP is back (a new server on the same port): the relay goes out on its retry
            back = SmtpServer(world.handler, port=world.smtp.port)
            stack.enter_context(back)
            wait_for("the relay email", lambda: world.handler.delivered, 60)
            relay = message_from_bytes(world.handler.delivered[0][2])
            assert relay["In-Reply-To"] == "<fault-q1@members.example.org>"
            assert "imap_wait_failed" in world.log() or "imap_connection_dropped" in world.log()
            assert stop(proc) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            notify.close()
        assert len(world.posts()) == 1 and len(world.handler.delivered) == 1


def test_sighup_reloads_a_good_config_refuses_a_bad_one_and_one_instance_only(
    tmp_path: Path, private_dovecot: DovecotServer,
) -> None:
    account = private_dovecot.add_user()
    with make_world(tmp_path, private_dovecot, account) as world:
        proc, notify = world.start()
        try:
            wait_for("READY=1", lambda: "READY=1" in notify.lines, 30)
            second = subprocess.run([sys.executable, "-m", "bridge.cli", "run", "--config",
                                     str(world.config)], cwd=ROOT, capture_output=True, timeout=30)
            assert second.returncode != 0 and b"already using this state database" in second.stderr
            good = world.config.read_text()
            world.config.write_text(good + "\n[bogus\n")
            proc.send_signal(signal.SIGHUP)
            wait_for("the bad config refused", lambda: "config_reload_refused" in world.log(), 20)
            assert proc.poll() is None
            world.config.write_text(good.replace('[matcher]', '[post]\nhashtags = ["#librarytwitter"]'
                                                 '\n[matcher]'))
            proc.send_signal(signal.SIGHUP)
            wait_for("the new config", lambda: "config_reloaded" in world.log(), 20)
            private_dovecot.append(account, question())
            posts = wait_for("a post with the new hashtag", world.posts, 60)
            assert "#librarytwitter" in posts[0].text  # type: ignore[index]
            started = time.monotonic()
            assert stop(proc) == 0
            assert time.monotonic() - started < 10
        finally:
            if proc.poll() is None:
                proc.kill()
            notify.close()


def test_imap_login_refused_at_start_exits_non_zero_with_the_reason(
    tmp_path: Path, dovecot_server: DovecotServer,
) -> None:
    account = dovecot_server.add_user()
    with make_world(tmp_path, dovecot_server, account) as world:
        (tmp_path / "secrets" / "imap").write_text("not-the-password")
        proc, notify = world.start()
        try:
            assert proc.wait(timeout=30) == 1
        finally:
            if proc.poll() is None:
                proc.kill()
            notify.close()
        assert "login refused" in world.log() and "not-the-password" not in world.log()
        assert "READY=1" not in notify.lines
