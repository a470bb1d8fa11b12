"""A real local AT Protocol network for tests: @atproto/dev-env (Node) on loopback.

`DevNetwork.start(postgres_url)` runs tests/atproto_devenv.cjs: PLC directory and PDS, and with a
PostgreSQL URL the AppView that serves notifications, threads and feeds (through the PDS, which
proxies app.bsky.* to it). `sync()` waits until the AppView has indexed everything the PDS has
written. Other accounts are made and act over plain XRPC on the PDS, as any client would.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import selectors
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
MODULES = Path(os.environ.get("ATPROTO_DEVENV", ROOT / ".cache" / "atproto-devenv")) / "node_modules"
SCRIPT = Path(__file__).resolve().parent / "atproto_devenv.cjs"
START_TIMEOUT = 180.0  # seconds: PLC + PDS about 1 s; with the AppView about 6 s idle, more under load
SYNC_TIMEOUT = 60.0
POST = "app.bsky.feed.post"
_serial = itertools.count(1)
SEASONED = datetime(2024, 1, 15, tzinfo=UTC)  # an account older than any minimum age


def devenv_missing() -> str | None:
    """Why the network cannot start here, or None."""
    if shutil.which("node") is None or not (MODULES / "@atproto" / "dev-env").is_dir():
        return f"needs Node and @atproto/dev-env in {MODULES} (scripts/test installs them)"
    return None


@dataclass(frozen=True)
class Actor:
    """An account on the dev-env PDS and the access token it acts with."""

    did: str
    handle: str
    password: str
    token: str


@dataclass(frozen=True)
class Ref:
    uri: str
    cid: str


class DevNetwork:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path, ready: dict[str, Any]) -> None:
        self._proc = proc
        self.log = log
        self.pds = str(ready["pds"])
        self.appview: str | None = ready["appview"]
        self.start_ms = int(ready["startMs"])

    @classmethod
    def start(cls, workdir: Path, postgres_url: str | None) -> DevNetwork:
        env = {**os.environ, "NODE_PATH": str(MODULES)}
        env.pop("DB_POSTGRES_URL", None)
        if postgres_url:
            env["DB_POSTGRES_URL"] = postgres_url
        log = workdir / "devenv.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(["node", str(SCRIPT)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, env=env, cwd=workdir)
        try:
            line = _read_line(proc, START_TIMEOUT)
            if not line:
                raise AssertionError(f"dev-env did not start: {log.read_text()[-3000:]}")
            return cls(proc, log, json.loads(line))
        except BaseException:
            _end(proc)
            raise

    def sync(self) -> None:
        """Wait until the AppView has indexed all the PDS has written (bounded)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(b"sync\n")
        self._proc.stdin.flush()
        line = _read_line(self._proc, SYNC_TIMEOUT)
        answer = json.loads(line) if line else {"error": f"no answer in {SYNC_TIMEOUT}s"}
        if not answer.get("synced"):
            raise AssertionError(f"dev-env sync failed: {answer}")

    def close(self) -> None:
        _end(self._proc)

    # -- accounts and what they do ---------------------------------------------------------------
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.pds, timeout=30, trust_env=False)

    def add_actor(self, name: str, display_name: str = "",
                  created_at: datetime | None = SEASONED) -> Actor:
        """A new account `<name><n>.test` (unique per session) with a profile record as the
        Bluesky app writes one at sign-up: `createdAt` (the AppView's profile createdAt, which
        the bridge's moderation reads as the account's age) and the display name if any. With
        created_at None, no profile record at all."""
        handle = f"{name}{next(_serial)}.test"
        password = f"{name}-account-password"
        with self.http() as http:
            made = http.post("/xrpc/com.atproto.server.createAccount", json={
                "handle": handle, "email": f"{handle}@example.org", "password": password})
            made.raise_for_status()
            body = made.json()
            actor = Actor(body["did"], handle, password, body["accessJwt"])
            if created_at is not None:
                profile = {"$type": "app.bsky.actor.profile", "createdAt": _iso(created_at)}
                if display_name:
                    profile["displayName"] = display_name
                self._create(http, actor, "app.bsky.actor.profile", profile, rkey="self")
        return actor

    def app_password(self, actor: Actor) -> str:
        with self.http() as http:
            made = http.post("/xrpc/com.atproto.server.createAppPassword", json={"name": "bridge"},
                             headers=_auth(actor))
            made.raise_for_status()
            return str(made.json()["password"])

    def reply(self, actor: Actor, parent_uri: str, text: str, mention: Actor | None = None) -> Ref:
        """`actor` replies to `parent_uri` (root taken from the parent); with `mention`, the text
        starts with "@handle " and carries a mention facet for that account."""
        with self.http() as http:
            parent = self._get(http, parent_uri)
            root = parent["value"].get("reply", {}).get("root") or {"uri": parent["uri"],
                                                                     "cid": parent["cid"]}
            record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": _now(),
                                      "reply": {"root": root,
                                                "parent": {"uri": parent["uri"], "cid": parent["cid"]}}}
            if mention is not None:
                tag = f"@{mention.handle}"
                record["text"] = f"{tag} {text}"
                record["facets"] = [{"index": {"byteStart": 0, "byteEnd": len(tag.encode())},
                                     "features": [{"$type": "app.bsky.richtext.facet#mention",
                                                   "did": mention.did}]}]
            return self._create(http, actor, POST, record)

    def records(self, actor: Actor) -> list[dict[str, Any]]:
        with self.http() as http:
            found = http.get("/xrpc/com.atproto.repo.listRecords",
                             params={"repo": actor.did, "collection": POST, "limit": 100})
            found.raise_for_status()
            return list(found.json()["records"])

    @staticmethod
    def _get(http: httpx.Client, uri: str) -> dict[str, Any]:
        repo, collection, rkey = uri.removeprefix("at://").split("/")
        found = http.get("/xrpc/com.atproto.repo.getRecord",
                         params={"repo": repo, "collection": collection, "rkey": rkey})
        found.raise_for_status()
        return dict(found.json())

    @staticmethod
    def _create(http: httpx.Client, actor: Actor, collection: str, record: dict[str, Any],
                rkey: str | None = None) -> Ref:
        body: dict[str, Any] = {"repo": actor.did, "collection": collection, "record": record}
        if rkey:
            body["rkey"] = rkey
        made = http.post("/xrpc/com.atproto.repo.createRecord", json=body, headers=_auth(actor))
        made.raise_for_status()
        return Ref(made.json()["uri"], made.json()["cid"])


def _auth(actor: Actor) -> dict[str, str]:
    return {"Authorization": f"Bearer {actor.token}"}


def _now() -> str:
    return _iso(datetime.now(UTC))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line from the driver within `timeout` seconds; b"" if none (or it ended)."""
    stdout: IO[bytes] | None = proc.stdout
    assert stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=timeout)
    return stdout.readline() if ready else b""


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Close stdin (the driver closes the network and exits); kill it if it does not in 30 s."""
    if proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
