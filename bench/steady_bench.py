"""Steady-state benchmark: what a daemon cycle costs against a real Dovecot.

    python bench/steady_bench.py [--history 2000] [--idle-cycles 200] [--new 50]

Starts a private Dovecot on 127.0.0.1 (as the tests do), fills the list mailbox with a history,
ingests it, then measures with the real orchestrator (IMAP ingest, matcher in dry-run publishing,
relay stage):
  - an idle cycle (nothing new): CPU milliseconds and IMAP commands per cycle;
  - a cycle after one new message arrived: CPU milliseconds above the idle cost.
Needs Debian's dovecot-imapd (scripts/test installs it).
"""

from __future__ import annotations

import argparse
import imaplib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from dovecot import DovecotServer  # noqa: E402

from bridge.adapters.imap import ImapMailbox  # noqa: E402
from bridge.config.sections import ImapConfig  # noqa: E402
from bridge.config.settings import Config  # noqa: E402
from bridge.decide.caps import PublishSettings  # noqa: E402
from bridge.service.log import configure_logging  # noqa: E402
from bridge.service.pipeline import Bridge, Services  # noqa: E402
from bridge.store.db import Store  # noqa: E402


class NoPublisher:
    """Dry-run publishing never calls these; present so the matcher stage runs as in production."""

    def publish(self, text: str) -> str:
        raise AssertionError("dry run")

    def find_post(self, link: str, since: datetime) -> str | None:
        return None

    def check_auth(self) -> str:
        return "bench"


def message(n: int, when: datetime) -> bytes:
    parent = f"In-Reply-To: <h{n - 1}@bench.example.org>\r\n" if n % 3 else ""
    return (f"Message-ID: <h{n}@bench.example.org>\r\nFrom: M{n} <m{n}@bench.example.org>\r\n"
            f"Date: {format_datetime(when)}\r\nSubject: {'Re: ' if n % 3 else ''}topic {n // 3}\r\n"
            f"{parent}List-Id: <bench.lists.example.org>\r\n\r\nHow do I do thing {n}?\r\n").encode()


class CommandCounter:
    """Counts IMAP commands sent by this process (each one is a round trip)."""

    def __init__(self) -> None:
        self.count = 0
        original = imaplib.IMAP4._command

        def counted(imap: imaplib.IMAP4, name: str, *args: object) -> object:
            self.count += 1
            return original(imap, name, *args)

        imaplib.IMAP4._command = counted  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--idle-cycles", type=int, default=200)
    parser.add_argument("--new", type=int, default=50)
    args = parser.parse_args(argv)
    configure_logging("warning")
    server = DovecotServer()
    server.start()
    try:
        account = server.add_user()
        now = datetime.now(UTC)
        with server.admin(account) as admin:
            for n in range(args.history):
                admin.append("INBOX", message(n, now - timedelta(minutes=args.history - n)))
        imap = ImapConfig(host="127.0.0.1", username=account.username, port=server.port,
                          security="plain", allow_plaintext=True)
        config = Config(imap=imap, publish=PublishSettings(dry_run=True))
        mailbox = ImapMailbox(host="127.0.0.1", port=server.port, security="plain",
                              username=account.username, password=lambda: account.password,
                              allow_plaintext=True)
        with tempfile.TemporaryDirectory() as scratch:
            store = Store.open(Path(scratch) / "bench.sqlite3")
            bridge = Bridge(config, store, Services(mailbox=mailbox, publisher=NoPublisher()))
            mailbox.connect()
            start = time.perf_counter()
            bridge.cycle(datetime.now(UTC))
            print(f"history: {args.history} messages ingested over IMAP in "
                  f"{time.perf_counter() - start:.2f} s")
            counter = CommandCounter()
            idle_cpu = []
            for _ in range(args.idle_cycles):
                before = time.process_time()
                bridge.cycle(datetime.now(UTC))
                idle_cpu.append(time.process_time() - before)
            idle_commands = counter.count / max(1, args.idle_cycles)
            new_cpu = []
            with server.admin(account) as admin:
                for n in range(args.new):
                    admin.append("INBOX", message(args.history + n, datetime.now(UTC)))
                    before = time.process_time()
                    bridge.cycle(datetime.now(UTC))
                    new_cpu.append(time.process_time() - before)
            mailbox.close()
            store.close()
    finally:
        server.cleanup()
    idle_ms = statistics.median(idle_cpu) * 1000
    new_ms = statistics.median(new_cpu) * 1000
    print(f"idle cycle: {idle_ms:.2f} ms CPU (median of {args.idle_cycles}), "
          f"{idle_commands:.1f} IMAP command(s) per cycle")
    print(f"cycle with one new message: {new_ms:.2f} ms CPU (median of {args.new}); "
          f"cost per new message: {max(0.0, new_ms - idle_ms):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
