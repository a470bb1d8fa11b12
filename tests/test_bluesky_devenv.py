"""The Bluesky adapter against a real PDS and PLC directory (@atproto/dev-env, Node) on loopback.

What the fake PDS assumes is checked here against the real server: a post at the question's TID
record key, facets accepted, a repeated create at that key refused without a second post, the
record found again by getRecord, one session kept across restarts. Notifications and threads come
from the AppView, which needs PostgreSQL and is not started here: tests/fake_bluesky.py covers
them. Skipped when the npm package is not installed (scripts/test installs it into
.cache/atproto-devenv; ATPROTO_DEVENV points elsewhere).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bridge.adapters.bluesky import POST, BlueskyAccount, BlueskyLogin, make_client, tid
from bridge.adapters.network import Outgoing
from bridge.errors import BridgeError

ROOT = Path(__file__).resolve().parent.parent
MODULES = Path(os.environ.get("ATPROTO_DEVENV", ROOT / ".cache" / "atproto-devenv")) / "node_modules"
SCRIPT = Path(__file__).resolve().parent / "atproto_devenv.cjs"
LINK = "https://lists.example.org/archives/list/solo@lists.example.org/thread/ABCDEF/"
START_TIMEOUT = 120.0  # seconds for PLC + PDS to come up (about 1 s idle, more under load)


class MemoryVault:
    def __init__(self) -> None:
        self.session: tuple[str, datetime] | None = None
        self.created = 0

    def load(self) -> tuple[str, datetime] | None:
        return self.session

    def save(self, session: str, created_at: datetime | None) -> None:
        self.created += created_at is not None
        self.session = (session, created_at or (self.session[1] if self.session else datetime.now(UTC)))


@pytest.fixture(scope="module")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("node") is None or not (MODULES / "@atproto" / "dev-env").is_dir():
        pytest.skip(f"needs Node and @atproto/dev-env in {MODULES} (scripts/test installs them)")
    log = tmp_path_factory.mktemp("devenv") / "devenv.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(["node", str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, env={**os.environ, "NODE_PATH": str(MODULES)},
                                cwd=log.parent)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=START_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
        if not line:
            raise AssertionError(f"dev-env did not start: {log.read_text()[-2000:]}")
        yield str(json.loads(line)["pds"])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def app_password(pds: str) -> str:
    """A real account (handle bridge.test) and an app password made for it, as an admin would."""
    with httpx.Client(base_url=pds, timeout=30, trust_env=False) as http:
        made = http.post("/xrpc/com.atproto.server.createAccount", json={
            "handle": "bridge.test", "email": "bridge@example.org", "password": "account-password"})
        made.raise_for_status()
        token = made.json()["accessJwt"]
        app = http.post("/xrpc/com.atproto.server.createAppPassword", json={"name": "bridge"},
                        headers={"Authorization": f"Bearer {token}"})
        app.raise_for_status()
        return str(app.json()["password"])


def account(pds: str, password: str, vault: MemoryVault) -> BlueskyAccount:
    return BlueskyAccount(make_client(pds, 30), BlueskyLogin("bridge.test", lambda: password), vault)


def records(pds: str) -> list[dict[str, object]]:
    with httpx.Client(base_url=pds, timeout=30, trust_env=False) as http:
        found = http.get("/xrpc/com.atproto.repo.listRecords",
                         params={"repo": "bridge.test", "collection": POST, "limit": 100})
        found.raise_for_status()
        return list(found.json()["records"])


def test_a_post_at_the_questions_key_is_made_once_on_a_real_pds(pds: str, app_password: str) -> None:
    vault = MemoryVault()
    created = datetime.now(UTC).replace(microsecond=0)
    text = f"Unanswered: how do I renew serials? #sololibrarians {LINK}"
    post = Outgoing("q1@example.org", "bluesky", text, LINK, "Serials", created)
    uri = account(pds, app_password, vault).publish(post)
    assert uri.endswith("/" + tid(created, post.key))
    with pytest.raises(BridgeError):  # the same key again: refused, no second post
        account(pds, app_password, vault).publish(post)
    assert account(pds, app_password, vault).find_post(post, created) == uri
    mine = [r for r in records(pds) if str(r["uri"]) == uri]
    assert len(mine) == 1 and len(records(pds)) == 1
    value = mine[0]["value"]
    assert isinstance(value, dict) and value["langs"] == ["en"] and len(value["facets"]) == 2
    assert vault.created == 1  # one session, kept by the three accounts above


def test_check_auth_uses_the_kept_session(pds: str, app_password: str) -> None:
    vault = MemoryVault()
    assert account(pds, app_password, vault).check_auth() == "bridge.test"
    assert account(pds, app_password, vault).check_auth() == "bridge.test"
    assert vault.created == 1
