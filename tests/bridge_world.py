"""A whole test world for daemon tests: the list mailbox (Dovecot), the fake X, the list's SMTP
server (aiosmtpd), a config wired to them, and a fake NOTIFY_SOCKET; the daemon as a subprocess."""

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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from dovecot import Account, DovecotServer
from fake_x import FakeUser, FakeX
from smtp_server import RecordingHandler, SmtpServer, free_port

from bridge.compose.links import mailman_hash

ROOT = Path(__file__).resolve().parent.parent
QUESTION_ID = "e2e-q1@members.example.org"


KOHA_QUESTION = ("Our journal comes out four times a year but never on the same months. How do "
                 "you set up a prediction pattern in Koha for that?")


def question(message_id: str = QUESTION_ID, subject: str = "Koha: serials prediction pattern for "
             "an irregular quarterly?", date: datetime | None = None,
             body: str = KOHA_QUESTION) -> bytes:
    """A question to the list. Several in one test need their own `body`: the same sender's
    word-for-word repost is not due."""
    return (f"Message-ID: <{message_id}>\r\nFrom: Ann Member <ann@members.example.org>\r\n"
            f"To: sla-dsol@lists.example.org\r\nDate: {format_datetime(date or datetime.now(UTC))}\r\n"
            f"Subject: {subject}\r\nList-Id: <sla-dsol.lists.example.org>\r\n"
            "Archived-At: <https://lists.example.org/archives/list/sla-dsol@lists.example.org/"
            f"message/{mailman_hash(message_id)}/>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Hello all,\r\n\r\n{body}\r\n\r\nAnn\r\n").encode()


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

    @property
    def metrics_url(self) -> str:
        port = self.config.read_text().split('listen = "127.0.0.1:')[1].split('"')[0]
        return f"http://127.0.0.1:{port}/metrics"

    def start(self, *args: str) -> tuple[subprocess.Popen[bytes], NotifyListener]:
        sock = NotifyListener(self.notify_path)
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify_path), "PYTHONUNBUFFERED": "1"}
        log = open(self.tmp / "daemon.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--config",
                                 str(self.config), *args], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        return proc, sock

    def edit_config(self, old: str, new: str) -> None:
        text = self.config.read_text()
        assert old in text, old
        self.config.write_text(text.replace(old, new, 1))

    def use_example_imap_timeouts(self) -> None:
        """The example config's IMAP timings (deploy/config.example.toml), not the tests' short ones."""
        self.edit_config('idle_refresh = "10s"\ntimeout = "5s"', 'idle_refresh = "10m"\ntimeout = "30s"')

    def log_count(self, event: str) -> int:
        return self.log().count(event)

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
    metrics_port = free_port()
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
retry_base = "2s"
[metrics]
enabled = true
listen = "127.0.0.1:{metrics_port}"
""")
    return config


def threads_json(world: World) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "bridge.cli", "threads", "--json", "--config",
                           str(world.config)], cwd=ROOT, capture_output=True, check=True)
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


@contextmanager
def running(world: World, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], NotifyListener]]:
    """The daemon as a subprocess for the block; killed if the block leaves it running."""
    proc, notify = world.start(*args)
    try:
        yield proc, notify
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        notify.close()


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)




def add_network(world: World, section: str, secret_key: str, secret: str, **settings: str) -> None:
    """Append a network's section to the world's config, its secret in a file of its own."""
    secret_file = world.tmp / "secrets" / section
    secret_file.write_text(secret + "\n")
    lines = [f"[{section}]", *(f'{key} = "{value}"' for key, value in settings.items()),
             f'{secret_key} = {{ file = "{secret_file}" }}']
    world.config.write_text(world.config.read_text() + "\n" + "\n".join(lines) + "\n")


@contextmanager
def make_world(tmp: Path, dovecot: DovecotServer, account: Account) -> Iterator[World]:
    """The fake X (with the bridge's account and a seasoned helper), a running SMTP server and a
    config wired to them and to `dovecot`."""
    handler = RecordingHandler()
    with FakeX() as fake, SmtpServer(handler) as smtp:
        bot = fake.add_user("solobridge", "Solo Librarians Bridge", access_token="bot-access-token")
        helper = fake.add_user("koha_helper", "Kim Helper",
                               created_at=datetime.now(UTC) - timedelta(days=400))
        config = write_config(tmp, dovecot, account, fake, smtp.port)
        yield World(tmp, dovecot, account, fake, bot, helper, smtp, handler, config,
                    tmp / "notify.sock")
