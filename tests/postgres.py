"""A private, real PostgreSQL for tests (the Bluesky AppView of @atproto/dev-env needs one).

initdb in a temp dir, the server on 127.0.0.1 and a unix socket in that dir, trust auth for one
superuser `bridge`; fsync off (a test database). PostgreSQL refuses to run as root: as root the
cluster belongs to the `postgres` user (Debian's package makes it) or else `nobody`, and initdb and
pg_ctl run as that user through runuser.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dovecot import HOST, find_free_port

SUPERUSER = "bridge"
START_TIMEOUT = 60  # seconds for pg_ctl start -w (about 1 s idle)


def find_bindir() -> Path | None:
    """Debian's /usr/lib/postgresql/<version>/bin (newest), else the directory of initdb on PATH."""
    def version(initdb: str) -> int:
        name = Path(initdb).parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _owner() -> str | None:
    """The user the cluster runs as when we are root; None when we are not (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgresServer:
    """Start with start(), stop with stop(); `url` is a libpq URL over TCP on 127.0.0.1."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.owner = _owner()
        self.dir = Path(tempfile.mkdtemp(prefix="bridge-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = find_free_port()
        self.started_in = 0.0  # seconds initdb + start took
        if self.owner is not None:
            entry = pwd.getpwnam(self.owner)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.dir.chmod(0o700)

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/postgres"

    def _run(self, *args: str, timeout: float) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(command, cwd=self.dir, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace')[-2000:]}\n{log}")

    def start(self) -> PostgresServer:
        began = time.monotonic()
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync", timeout=120)
        options = (f"-c listen_addresses={HOST} -p {self.port} -k {self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w",
                  "-t", str(START_TIMEOUT), "start", timeout=START_TIMEOUT + 10)
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop",
                          timeout=40)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
