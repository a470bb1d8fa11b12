"""Start-up benchmark: how long an admin waits for `status`, next to `python -c pass` in the same run.

    python bench/startup_bench.py [--runs 15]

Builds a small state database (the example archive, 49 messages, its dates moved so that its last
message is a day old: threads are due now and soon whatever the day it runs), then times,
each as a fresh process, alternating so that load on the machine hits all alike:
  1. the yardstick: `python -c pass` (the interpreter alone);
  2. `import bridge.cli.main` (what every command pays before it parses its arguments);
  3. `listserv-bridge status --db small.sqlite3` (wall time, whole command);
  4. `listserv-bridge threads --db small.sqlite3`.
Prints the median and the best wall time of each, its median CPU time (user + system: what
load on the shared machine changes least), and the load average when it ran. Bytecode is cached,
as after an installation: PYTHONDONTWRITEBYTECODE is cleared for these processes and each command
runs once before the timed runs (without cached bytecode every run compiles the bridge's modules
again, ~0.15 s on this machine).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sololibrarians.mbox"


# RFC 5322 dates (Date, Received) and the mbox From_ lines' asctime dates
RFC_DATE = re.compile(rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} "
                      rb"\d{2}:\d{2}(?::\d{2})? [+-]\d{4}")
FROM_LINE = re.compile(rb"^(From \S+ )(.+)$", re.MULTILINE)


def recent_example(age: timedelta = timedelta(days=1), now: datetime | None = None) -> bytes:
    """The example archive with every date in it (Date, Received, From_ lines) moved by one
    offset: its last message `age` old at `now`."""
    raw = EXAMPLE.read_bytes()
    dates = [parsedate_to_datetime(m.group(0).decode()) for m in RFC_DATE.finditer(raw)]
    shift = (now or datetime.now(UTC)) - age - max(dates)

    def rfc(match: re.Match[bytes]) -> bytes:
        return format_datetime(parsedate_to_datetime(match.group(0).decode()) + shift).encode()

    def from_line(match: re.Match[bytes]) -> bytes:
        when = datetime.strptime(match.group(2).decode(), "%a %b %d %H:%M:%S %Y") + shift
        return match.group(1) + when.strftime("%a %b %d %H:%M:%S %Y").encode()

    return FROM_LINE.sub(from_line, RFC_DATE.sub(rfc, raw))


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        db = str(Path(scratch) / "small.sqlite3")
        mbox = Path(scratch) / "example.mbox"
        mbox.write_bytes(recent_example())
        subprocess.run([py, "-m", "bridge.cli", "ingest", "--mbox", str(mbox), "--db", db,
                        "--no-progress"], cwd=ROOT, check=True, capture_output=True)
        phases = {
            "python -c pass (yardstick)": [py, "-c", "pass"],
            "import bridge.cli.main": [py, "-c", "import bridge.cli.main"],
            "status (small database)": [py, "-m", "bridge.cli", "status", "--db", db],
            "threads (small database)": [py, "-m", "bridge.cli", "threads", "--db", db],
        }
        for command in phases.values():  # warm-up: bytecode written, files in the page cache
            timed(command)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in phases}
        for _ in range(args.runs):
            for name, command in phases.items():
                times[name].append(timed(command))
    load = os.getloadavg()[0]
    base = statistics.median(w for w, _ in times["python -c pass (yardstick)"])
    print(f"{'phase':<30}{'median s':>10}{'best s':>9}{'minus yardstick':>17}{'median CPU s':>14}")
    for name, runs in times.items():
        median = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:<30}{median:>10.3f}{min(w for w, _ in runs):>9.3f}{median - base:>17.3f}"
              f"{cpu:>14.3f}")
    print(f"{args.runs} runs each, alternating, bytecode cached; load average (1 min) {load:.2f} "
          f"on {os.cpu_count()} cores; target for status: 0.300 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
