"""Start-up benchmark: how long an admin waits for `status`, next to `python -c pass` in the same run.

    python bench/startup_bench.py [--runs 15]

Builds a small state database (the example archive, 49 messages), then times, each as a fresh
process, alternating so that load on the machine hits both alike:
  1. the yardstick: `python -c pass` (the interpreter alone);
  2. `import bridge.cli.main` (what every command pays before it parses its arguments);
  3. `listserv-bridge status --db small.sqlite3` (wall time, whole command);
  4. `listserv-bridge threads --db small.sqlite3`.
Prints the median and the best of each, and the load average when it ran.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sololibrarians.mbox"


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        db = str(Path(scratch) / "small.sqlite3")
        subprocess.run([py, "-m", "bridge.cli", "ingest", "--mbox", str(EXAMPLE), "--db", db,
                        "--no-progress"], cwd=ROOT, check=True, capture_output=True)
        phases = {
            "python -c pass (yardstick)": [py, "-c", "pass"],
            "import bridge.cli.main": [py, "-c", "import bridge.cli.main"],
            "status (small database)": [py, "-m", "bridge.cli", "status", "--db", db],
            "threads (small database)": [py, "-m", "bridge.cli", "threads", "--db", db],
        }
        times: dict[str, list[float]] = {name: [] for name in phases}
        for _ in range(args.runs):
            for name, command in phases.items():
                times[name].append(wall(command))
    load = os.getloadavg()[0]
    base = statistics.median(times["python -c pass (yardstick)"])
    print(f"{'phase':<30}{'median s':>10}{'best s':>9}{'minus yardstick':>17}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<30}{median:>10.3f}{min(values):>9.3f}{median - base:>17.3f}")
    print(f"{args.runs} runs each, alternating; load average (1 min) {load:.2f} on "
          f"{os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
