"""Worst cases of hostile or huge mail: peak memory and time per message, with a yardstick.

    python bench/hostile_bench.py [--cases text_50mb,imap_20x21mb,...] [--keep-going]

Each case runs in its own process (so its peak RSS is its own) through the real ingest path:
  - yardstick: 500 ordinary messages from an mbox (the time an ordinary message costs here);
  - text_50mb: one message with a 50 MB text/plain body, from an mbox;
  - batch_5x24mb: five 24 MB messages (text and attachments) in one mbox;
  - imap_20x21mb: twenty 21 MB messages over IMAP from a private Dovecot on 127.0.0.1;
  - emoji_10k: one message whose body is 10,000 emoji;
  - patho_2mb: five 2 MB messages built to be slow (see `pathological`).
Prints one line per case: peak RSS (MB), seconds, messages, seconds per message. Needs Debian's
dovecot-imapd for the IMAP case (scripts/test installs it). Test data is generated here.
"""

from __future__ import annotations

import argparse
import base64
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

MB = 1 << 20
SEPARATOR = b"From bench@example.org Mon Nov  2 09:15:00 2026\n"
LINE = b"Our catalogue shows the serials twice after the upgrade; any idea why?\n"


def message(n: int, body: bytes, extra: bytes = b"", crlf: bool = False) -> bytes:
    head = (f"Message-ID: <big{n}@bench.example.org>\nFrom: Asker {n} <a{n}@example.org>\n"
            f"Subject: question {n}\nDate: Mon, 2 Nov 2026 09:{n % 60:02d}:00 +0000\n").encode()
    data = head + extra + b"\n" + body
    return data.replace(b"\n", b"\r\n") if crlf else data


def text_body(size: int) -> bytes:
    return LINE * (size // len(LINE))


def attachment_message(n: int, size: int, crlf: bool = False) -> bytes:
    """A short question with a base64 attachment making it `size` bytes."""
    blob = base64.encodebytes(bytes(range(256)) * (size * 3 // 4 // 256))
    body = (b"--b\nContent-Type: text/plain\n\nPlease see the attached log.\n"
            b"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
            b"Content-Disposition: attachment; filename=log.bin\n\n" + blob + b"--b--\n")
    return message(n, body, b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n", crlf)


def pathological() -> list[tuple[bytes, bytes]]:
    """(extra headers, body) of 2 MB messages that once cost minutes each: a Subject of "Re: "
    repeated, encoded words, 200,000 header fields, deeply nested HTML, 500,000 quoted lines."""
    size = 2 * MB
    return [
        (b"X-Subject: " + b"Re: " * (size // 4) + b"\n", b"x\n"),
        (b"X-Topic: " + b"=?utf-8?q?a?= " * (size // 14) + b"\n", b"x\n"),
        (b"".join(b"X-%d: v\n" % i for i in range(size // 10)), b"x\n"),
        (b"Content-Type: text/html\n", b"<div><b>x" * (size // 9)),
        (b"", b"> x\n" * (size // 4)),
    ]


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    with path.open("wb") as out:
        for data in messages:
            out.write(SEPARATOR + data.replace(b"\nFrom ", b"\n>From ").rstrip(b"\n") + b"\n\n")
    return path


# -- cases (each runs in a child process) -----------------------------------------------------

def ingest_mbox(path: Path) -> int:
    from bridge.adapters.archive import read_mbox
    from bridge.stages.ingest import IngestPolicy, ingest_archive
    from bridge.store.db import Store
    from bridge.store.mail import MailStore

    store = Store.open(path.with_suffix(".sqlite3"))
    report = ingest_archive(MailStore(store), read_mbox(path), IngestPolicy())
    store.close()
    return report.seen


def ingest_imap(port: int, username: str, password: str, db: Path) -> int:
    from bridge.adapters.imap import ImapMailbox
    from bridge.stages.ingest import IngestPolicy, store_batch
    from bridge.store.db import Store
    from bridge.store.mail import MailStore

    mailbox = ImapMailbox(host="127.0.0.1", port=port, security="plain", username=username,
                          password=lambda: password, allow_plaintext=True, timeout=120)
    store = Store.open(db)
    seen = 0
    mailbox.connect()
    for batch in mailbox.fetch_new(None):
        seen += store_batch(MailStore(store), batch.mails, IngestPolicy(), batch.cursor,
                            batch.oversized).seen
    mailbox.close()
    store.close()
    return seen


def run_child(case: str, args: list[str]) -> None:
    from bridge.service.log import configure_logging

    configure_logging("error", stream=sys.stderr)
    import bridge.adapters.archive
    import bridge.adapters.imap
    import bridge.stages.ingest  # noqa: F401  (imports are not the messages' cost)

    started = time.perf_counter()
    if case == "imap":
        seen = ingest_imap(int(args[0]), args[1], args[2], Path(args[3]))
    else:
        seen = ingest_mbox(Path(args[0]))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "messages": seen, "peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would include the parent's before exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(args: list[str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, check=False, timeout=3600)
    if done.returncode != 0:
        return {"error": 1.0, "peak_mb": -1, "seconds": -1, "messages": 0,
                "detail": done.stderr.strip().splitlines()[-1:] or ["?"]}  # type: ignore[dict-item]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def prepare_imap(scratch: Path) -> tuple[object, list[str]]:
    from dovecot import DovecotServer

    server = DovecotServer()
    server.start()
    account = server.add_user()
    with server.admin(account) as client:
        for n in range(20):
            data = (message(n, text_body(21 * MB), crlf=True) if n % 2
                    else attachment_message(n, 21 * MB, crlf=True))
            client.append("INBOX", data)
    return server, ["imap", str(server.port), account.username, account.password,
                    str(scratch / "imap.sqlite3")]


def prepare(case: str, scratch: Path) -> tuple[object | None, list[str]]:
    if case == "yardstick":
        msgs = [message(n, LINE * 12) for n in range(500)]
    elif case == "text_50mb":
        msgs = [message(1, text_body(50 * MB))]
    elif case == "batch_5x24mb":
        msgs = [message(n, text_body(24 * MB)) if n % 2 else attachment_message(n, 24 * MB)
                for n in range(5)]
    elif case == "patho_2mb":
        msgs = [message(n, body, head) for n, (head, body) in enumerate(pathological())]
    elif case == "emoji_10k":
        msgs = [message(1, ("\U0001f600\U0001f44d\U0001f3fd " * 3334).encode(),
                        b"Content-Type: text/plain; charset=utf-8\n")]
    else:
        return prepare_imap(scratch)
    return None, ["mbox", str(write_mbox(scratch / f"{case}.mbox", msgs))]


CASES = ("yardstick", "text_50mb", "batch_5x24mb", "imap_20x21mb", "emoji_10k", "patho_2mb")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_child(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    options = parser.parse_args()
    print(f"{'case':<14} {'peak RSS MB':>11} {'seconds':>9} {'messages':>8} {'s/message':>10}")
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as tmp:
        for case in options.cases.split(","):
            server, args = prepare(case, Path(tmp))
            try:
                result = measure(args)
            finally:
                if server is not None:
                    server.cleanup()  # type: ignore[attr-defined]
            per = result["seconds"] / result["messages"] if result["messages"] else float("nan")
            print(f"{case:<14} {result['peak_mb']:>11.0f} {result['seconds']:>9.2f} "
                  f"{int(result['messages']):>8} {per:>10.4f}"
                  + (f"  error: {result.get('detail')}" if "error" in result else ""), flush=True)
            for leftover in Path(tmp).iterdir():
                leftover.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
