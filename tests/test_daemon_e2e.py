"""End to end: `listserv-bridge run` as a real subprocess against Dovecot (the list mailbox), the
fake X API (real HTTP) and aiosmtpd (the list's SMTP server), with the notify protocol watched
through a fake NOTIFY_SOCKET."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.utils import format_datetime
from pathlib import Path

import pytest
from dovecot import Account, DovecotServer
from fake_x import FakeUser, FakeX
from smtp_server import RecordingHandler, SmtpServer

ROOT = Path(__file__).resolve().parent.parent
QUESTION_ID = "e2e-q1@members.example.org"


def question(message_id: str = QUESTION_ID, subject: str = "Koha: serials prediction pattern for "
             "an irregular quarterly?") -> bytes:
    return (f"Message-ID: <{message_id}>\r\nFrom: Ann Member <ann@members.example.org>\r\n"
            f"To: sla-dsol@lists.example.org\r\nDate: {format_datetime(datetime.now(UTC))}\r\n"
            f"Subject: {subject}\r\nList-Id: <sla-dsol.lists.example.org>\r\n"
            f"Archived-At: <https://lists.example.org/archives/{message_id}>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hello all,\r\n\r\nOur journal comes out four times a year but never on the same "
            "months. How do you set up a prediction pattern in Koha for that?\r\n\r\nAnn\r\n"
            ).encode()


def wait_for(what: str, check: Callable[[], object], timeout: float = 60.0) -> object:
    """Poll `check` until it returns something truthy; bounded, fails with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class World:
    tmp: Path
    dovecot: DovecotServer
    account: Account
    fake: FakeX
    bot: FakeUser
    helper: FakeUser
    smtp: SmtpServer
    handler: RecordingHandler
    config: Path
    notify_path: Path

    def start(self) -> tuple[subprocess.Popen[bytes], NotifyListener]:
        sock = NotifyListener(self.notify_path)
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify_path), "PYTHONUNBUFFERED": "1"}
        log = open(self.tmp / "daemon.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--config",
                                 str(self.config)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
        return proc, sock

    def posts(self) -> list[object]:
        return list(self.fake.posts_by(self.bot))

    def log(self) -> str:
        return (self.tmp / "daemon.log").read_text(errors="replace")


class NotifyListener:
    """A fake NOTIFY_SOCKET: a datagram socket drained by a thread, as systemd would."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self.lines.extend(self.sock.recv(4096).decode().splitlines())
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def write_config(tmp: Path, dovecot: DovecotServer, account: Account, fake: FakeX,
                 smtp_port: int) -> Path:
    secrets = tmp / "secrets"
    secrets.mkdir()
    for name, value in (("imap", account.password), ("ck", "consumer-key"),
                        ("cs", "consumer-secret"), ("at", "bot-access-token"), ("ats", "bot-secret")):
        (secrets / name).write_text(value)
    config = tmp / "bridge.toml"
    config.write_text(f"""
[list]
address = "sla-dsol@lists.example.org"
[store]
path = "{tmp / 'state' / 'bridge.sqlite3'}"
[imap]
host = "127.0.0.1"
port = {dovecot.port}
security = "starttls"
ca_file = "{dovecot.certs.ca_file}"
username = "{account.username}"
password = {{ file = "{secrets / 'imap'}" }}
idle_refresh = "10s"
timeout = "5s"
[matcher]
unanswered_after = "3s"
[publish]
min_spacing = "1s"
max_per_hour = 20
max_per_day = 50
[x]
api_base_url = "{fake.base_url}"
consumer_key = {{ file = "{secrets / 'ck'}" }}
consumer_secret = {{ file = "{secrets / 'cs'}" }}
access_token = {{ file = "{secrets / 'at'}" }}
access_token_secret = {{ file = "{secrets / 'ats'}" }}
timeout = "5s"
[replies]
min_poll_interval = "5s"
[moderation]
per_author_daily = 10
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
allow_plaintext = true
timeout = 5
[relay]
from_address = "bridge@bridge.example.net"
list_address = "sla-dsol@lists.example.org"
admin_contact = "admin@bridge.example.net"
batch_window = "1s"
""")
    return config


@pytest.fixture
def world(tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account) -> Iterator[World]:
    handler = RecordingHandler()
    with FakeX() as fake, SmtpServer(handler) as smtp:
        bot = fake.add_user("solobridge", "Solo Librarians Bridge", access_token="bot-access-token")
        helper = fake.add_user("koha_helper", "Kim Helper",
                               created_at=datetime.now(UTC) - timedelta(days=400))
        config = write_config(tmp_path, dovecot_server, imap_account, fake, smtp.port)
        yield World(tmp_path, dovecot_server, imap_account, fake, bot, helper, smtp, handler,
                    config, tmp_path / "notify.sock")


def threads_json(world: World) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "bridge.cli", "threads", "--json", "--config",
                           str(world.config)], cwd=ROOT, capture_output=True, check=True)
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)


def test_question_to_post_to_reply_to_list_and_back(world: World) -> None:
    proc, sock = world.start()
    try:
        wait_for("READY=1", lambda: "READY=1" in sock.lines, 30)
        world.dovecot.append(world.account, question())
        posts = wait_for("the post on X", world.posts, 60)
        assert isinstance(posts, list) and len(posts) == 1
        post = posts[0]
        assert "#sololibrarians" in post.text  # type: ignore[attr-defined]
        world.fake.add_reply(post.id, world.helper,  # type: ignore[attr-defined]
                             "In Koha, use an irregular pattern and skip the months it never comes out")
        wait_for("the relay email", lambda: world.handler.delivered, 60)
        (mail_from, rcpts, raw) = world.handler.delivered[0]
        assert (mail_from, rcpts) == ("bridge@bridge.example.net", ["sla-dsol@lists.example.org"])
        relay = message_from_bytes(raw)
        assert relay["In-Reply-To"] == f"<{QUESTION_ID}>"
        assert f"<{QUESTION_ID}>" in relay["References"]
        assert relay["Subject"].startswith("Re: Koha: serials prediction pattern")
        assert "Kim Helper (@koha_helper) via" in relay["From"]
        assert relay["Auto-Submitted"] is None
        # the list delivers our relay back: recognised as ours, the thread is answered via X
        world.dovecot.append(world.account, raw)

        def answered() -> bool:
            rows = [t for t in threads_json(world) if t["root"] == QUESTION_ID]
            return bool(rows) and rows[0]["state"] == "answered_via_x"

        wait_for("the echo to mark the thread answered", answered, 30)
        assert len(world.handler.delivered) == 1 and len(world.posts()) == 1
        status = json.loads(subprocess.run(
            [sys.executable, "-m", "bridge.cli", "status", "--json", "--config", str(world.config)],
            cwd=ROOT, capture_output=True, check=True).stdout)
        assert status["posts"] == {"confirmed": 1} and status["posts_today"] == 1
        assert status["replies"] == {"relayed": 1} and status["relays"] == {"sent": 1}
        assert status["spend_this_month_usd"] == pytest.approx(0.20)
        assert all(not s["last_error"] for s in status["stages"].values())
        assert status["last_successful_cycle_at"] is not None
        assert stop(proc) == 0
        wait_for("STOPPING=1", lambda: "STOPPING=1" in sock.lines, 5)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert "consumer-secret" not in world.log() and world.account.password not in world.log()


def test_kill_9_at_random_points_never_duplicates_or_loses(world: World) -> None:
    """A busy run killed with SIGKILL again and again: every question posted exactly once, every
    reply relayed exactly once."""
    subjects = [f"Question {n}: how do I renew serial subscription {n} in Koha?" for n in range(4)]
    ids = [f"e2e-k{n}@members.example.org" for n in range(4)]
    for mid, subject in zip(ids, subjects, strict=True):
        world.dovecot.append(world.account, question(mid, subject))
    deadline = time.monotonic() + 150
    kills = 0
    replied: set[str] = set()
    while time.monotonic() < deadline:
        proc, sock = world.start()
        time.sleep(1.0 + (kills * 0.7) % 2.5)  # kill at varying points of the cycle
        for post in world.posts():
            if post.id not in replied:  # type: ignore[attr-defined]
                world.fake.add_reply(post.id, world.helper,  # type: ignore[attr-defined]
                                     f"Use the irregularity setting for post {post.id}")  # type: ignore[attr-defined]
                replied.add(post.id)  # type: ignore[attr-defined]
        proc.kill()
        proc.wait(timeout=10)
        sock.close()
        kills += 1
        if len(world.posts()) == 4 and len(world.handler.delivered) >= 4 and kills >= 4:
            break
    proc, sock = world.start()  # a last, clean run lets everything settle
    try:
        wait_for("all relays", lambda: len(world.handler.delivered) >= 4, 90)
        time.sleep(3)
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    texts = [p.text for p in world.posts()]  # type: ignore[attr-defined]
    assert len(texts) == 4 and len(set(texts)) == 4, texts  # each question posted exactly once
    replies_seen = [message_from_bytes(raw)["In-Reply-To"] for _, _, raw in world.handler.delivered]
    assert sorted(replies_seen) == sorted(f"<{mid}>" for mid in ids)  # one relay per question
