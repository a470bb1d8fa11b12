"""Backfill benchmark: `ingest --mbox` against a bare stdlib parsing loop, side by side in one run.

    python bench/ingest_bench.py [--messages 50000] [--mbox PATH] [--workers 2]

Builds a realistic corpus with bench/corpus.py (unless --mbox is given), then runs, each in its
own fresh process so that peak RSS is measured per phase:
  1. baseline: read the mbox and parse every message with email.message_from_bytes (compat32),
     taking the text/plain part -- the floor any ingest is compared with;
  2. ingest, one process: parse, clean, classify, thread and store (SQLite), as `ingest --mbox`;
  3. ingest, --workers processes parsing while the main process reads and stores.
Prints messages/s, the ratio to the baseline and peak RSS of each phase. Ratios, not absolute
numbers, are what holds across machines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BASELINE = """
import email, json, resource, sys, time
from email import policy
from bridge.adapters.archive import read_mbox
start = time.perf_counter(); count = 0
for raw in read_mbox(sys.argv[1]):
    msg = email.message_from_bytes(raw.data, policy=policy.compat32)
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            part.get_payload(decode=True)
            break
    count += 1
seconds = time.perf_counter() - start
print(json.dumps({"messages": count, "seconds": seconds,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

INGEST = """
import json, resource, sys, tempfile, time
from datetime import UTC, datetime
from bridge.adapters.archive import read_mbox
from bridge.cli.main import ingest_policy
from bridge.config.settings import Config
from bridge.stages.ingest import ingest_archive
from bridge.store.mail import MailStore
from bridge.store.db import Store
path, workers = sys.argv[1], int(sys.argv[2])
with tempfile.TemporaryDirectory() as scratch:
    store = Store.open(scratch + "/bench.sqlite3")
    policy = ingest_policy(Config(), store, datetime.now(UTC))
    start = time.perf_counter()
    report = ingest_archive(MailStore(store), read_mbox(path), policy, workers=workers)
    seconds = time.perf_counter() - start
    threads = store.count("threads")
    store.close()
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"messages": report.seen, "seconds": seconds, "threads": threads,
                  "problems": report.problems, "rss_mb": own / 1024,
                  "worker_rss_mb": kids / 1024}))
"""


def run_phase(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
        cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def build_corpus(messages: int, out: Path) -> None:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / "corpus.py"), "--messages", str(messages),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    print(f"corpus: {messages} messages, {out.stat().st_size / 1e6:.0f} MB, "
          f"built in {time.perf_counter() - start:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--mbox", help="use this archive instead of generating one")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        mbox = Path(args.mbox) if args.mbox else Path(scratch) / "bench.mbox"
        if not args.mbox:
            build_corpus(args.messages, mbox)
        base = run_phase(BASELINE, str(mbox))
        one = run_phase(INGEST, str(mbox), "1")
        many = run_phase(INGEST, str(mbox), str(args.workers))
    base_rate = base["messages"] / base["seconds"]
    print(f"{'phase':<28}{'msgs/s':>10}{'ratio':>8}{'peak RSS MB':>14}")
    print(f"{'stdlib baseline loop':<28}{base_rate:>10.0f}{1.0:>8.2f}{base['rss_mb']:>14.0f}")
    for label, res in (("ingest, 1 process", one), (f"ingest, {args.workers} workers", many)):
        rate = res["messages"] / res["seconds"]
        rss = max(res["rss_mb"], res["worker_rss_mb"])
        print(f"{label:<28}{rate:>10.0f}{rate / base_rate:>8.2f}{rss:>14.0f}")
    print(f"threads: {one['threads']:.0f} (1 process) / {many['threads']:.0f} "
          f"({args.workers} workers); problems: {one['problems']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
