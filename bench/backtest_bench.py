"""backtest benchmark: `backtest` of an archive next to a bare stdlib parse loop, in one run.

    python bench/backtest_bench.py [--messages 20000] [--mbox PATH]

Builds the generated corpus (bench/corpus.py) unless --mbox is given, then runs, each in a fresh
process: 1. the yardstick, a bare stdlib loop (read the mbox, `email.message_from_bytes` with
compat32, take the text/plain part) and 2. `backtest` as the command runs it (headers of every
message threaded in a scratch store, the bodies a decision reads, every thread replayed with its
post composed). Prints messages/s of both, the ratio, how many bodies were parsed, and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from ingest_bench import BASELINE, build_corpus  # noqa: E402

TIMED = """
import json, resource, sys, time
from bridge.cli import review
from bridge.config.settings import Config
start = time.perf_counter()
plans = posts = 0
for plan in review.backtest_plans(sys.argv[1], Config()):
    plans += 1; posts += plan.outcome == "post"
seconds = time.perf_counter() - start
with review.read_archive(sys.argv[1], Config()) as archive:  # untimed: how many bodies it read
    bodies = len(archive.bodies) if archive else 0
print(json.dumps({"seconds": seconds, "threads": plans, "posts": posts, "bodies": bodies,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, mbox: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code, str(mbox)], capture_output=True, text=True,
                          check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--mbox", help="use this archive instead of generating one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        mbox = Path(args.mbox) if args.mbox else Path(scratch) / "bench.mbox"
        if not args.mbox:
            build_corpus(args.messages, mbox)
        base = run(BASELINE, mbox)
        back = run(TIMED, mbox)
    messages = base["messages"]
    base_rate, back_rate = messages / base["seconds"], messages / back["seconds"]
    print(f"{'phase':<34}{'msgs/s':>9}{'ratio':>8}{'seconds':>9}{'peak RSS MB':>13}")
    print(f"{'stdlib baseline loop':<34}{base_rate:>9.0f}{1.0:>8.2f}{base['seconds']:>9.1f}"
          f"{base['rss_mb']:>13.0f}")
    print(f"{'backtest (one process)':<34}{back_rate:>9.0f}{back_rate / base_rate:>8.2f}"
          f"{back['seconds']:>9.1f}{back['rss_mb']:>13.0f}")
    print(f"{messages:.0f} messages, {back['threads']:.0f} threads, {back['posts']:.0f} would be "
          f"posted; bodies parsed: {back['bodies']:.0f}; load average (1 min) "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
