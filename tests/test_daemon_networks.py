"""End to end on three networks: `listserv-bridge run` as a subprocess, killed with SIGKILL at
varying points, against Dovecot, aiosmtpd, the fake X, the fake Mastodon and the fake Bluesky PDS
(all real HTTP on loopback). Each question is posted once on each network; each reply, from any
network, reaches the list once, threaded under its question; the list's echo of our relay is
recognised as ours."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from bridge_world import NotifyListener, World, add_network, make_world, question, stop, wait_for
from dovecot import Account, DovecotServer
from fake_bluesky import FakeBluesky
from fake_mastodon import FakeMastodon

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path, dovecot_server: DovecotServer,
          imap_account: Account) -> Iterator[tuple[World, FakeMastodon, FakeBluesky]]:
    with make_world(tmp_path, dovecot_server, imap_account) as built, FakeMastodon() as toots, \
            FakeBluesky() as sky:
        toots.add_account("bridge", "List Bridge", token="toot-token")
        sky.add_actor("bridge.test", "List Bridge", app_password="app-pass")
        add_network(built, "mastodon", "access_token", "toot-token",
                    api_base_url=toots.base_url, timeout="5s")
        add_network(built, "bluesky", "app_password", "app-pass",
                    identifier="bridge.test", service=sky.base_url, timeout="5s")
        yield built, toots, sky


def test_three_networks_across_kill_9_post_once_and_relay_each_reply_once(
        world: tuple[World, FakeMastodon, FakeBluesky]) -> None:
    w, toots, sky = world
    ids = [f"e2e-n{n}@members.example.org" for n in range(2)]
    for n, mid in enumerate(ids):
        w.dovecot.append(w.account, question(mid, f"Question {n}: how do I renew serial {n} in Koha?"))
    toot_bot, sky_bot = toots.accounts[0], sky.actors[0]
    jane = toots.add_account("jane", "Jane Doe", domain="library.example")
    ana = sky.add_actor("ana.bsky.social", "Ana Lima")
    answered: set[str] = set()
    # A kill between a relay's lease and the SMTP answer leaves its outcome unknown: the bridge
    # waits for the list's echo up to resend_grace, then resends. The test plays the list: every
    # delivered email comes back into the mailbox.
    w.config.write_text(w.config.read_text().replace('[relay]\n', '[relay]\nresend_grace = "15s"\n'))
    echoed = 0

    def echo_delivered() -> None:
        nonlocal echoed
        for _, _, raw in w.handler.delivered[echoed:]:
            w.dovecot.append(w.account, raw)
            echoed += 1

    def answer_new_posts() -> None:
        for post in w.posts():
            if f"x:{post.id}" not in answered:  # type: ignore[attr-defined]
                w.fake.add_reply(post.id, w.helper, f"X answer to {post.id}")  # type: ignore[attr-defined]
                answered.add(f"x:{post.id}")  # type: ignore[attr-defined]
        for status in toots.posts_by(toot_bot):
            if f"m:{status.id}" not in answered:
                toots.reply(jane, status.id, f"@bridge Mastodon answer to {status.id}")
                answered.add(f"m:{status.id}")
        for record in sky.posts_by(sky_bot):
            if f"b:{record.uri}" not in answered:
                sky.reply(ana, record.uri, f"Bluesky answer to {record.rkey}")
                answered.add(f"b:{record.uri}")

    deadline = time.monotonic() + 150
    kills = 0
    while time.monotonic() < deadline:
        proc, sock = w.start()
        _wait_ready(sock)  # killed at a varying point after READY=1, not while still importing
        time.sleep((kills * 0.53) % 2.0)
        echo_delivered()
        answer_new_posts()
        proc.kill()
        proc.wait(timeout=10)
        sock.close()
        kills += 1
        if len(answered) == 6 and len(w.handler.delivered) >= 2 and kills >= 4:
            break
    proc, sock = w.start()  # a last, clean run lets everything settle
    try:
        wait_for("every post answered", lambda: answer_new_posts() or len(answered) == 6, 120)
        wait_for("every reply relayed",
                 lambda: echo_delivered() or _relayed_texts(w) >= 6, 120)
        echo_delivered()  # the list delivers our relays back
        wait_for("the echoes recognised", lambda: _echoed(w) == len(w.handler.delivered), 60)
        time.sleep(2)
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert len(w.posts()) == 2 and len({p.text for p in w.posts()}) == 2  # type: ignore[attr-defined]
    assert len(toots.posts_by(toot_bot)) == 2 and len(sky.posts_by(sky_bot)) == 2
    bodies = [message_from_bytes(raw).get_payload(decode=True).decode()  # type: ignore[union-attr]
              for _, _, raw in w.handler.delivered]
    for text in ("X answer to", "Mastodon answer to", "Bluesky answer to"):
        assert sum(b.count(text) for b in bodies) == 2, text  # each reply relayed exactly once
    assert any("Jane Doe (@jane@library.example) wrote on Mastodon" in b for b in bodies)
    assert any("Ana Lima (@ana.bsky.social) wrote on Bluesky" in b for b in bodies)
    threads = {message_from_bytes(raw)["In-Reply-To"] for _, _, raw in w.handler.delivered}
    assert threads == {f"<{mid}>" for mid in ids}


def _wait_ready(sock: NotifyListener) -> None:
    with contextlib.suppress(AssertionError):  # a start that never got ready: killed all the same
        wait_for("READY=1", lambda: "READY=1" in sock.lines, 30)


def _db(w: World) -> sqlite3.Connection:
    return sqlite3.connect(w.tmp / "state" / "bridge.sqlite3", timeout=5)


def _relayed_texts(w: World) -> int:
    return sum(message_from_bytes(raw).get_payload(decode=True).decode().count(" answer to ")  # type: ignore[union-attr]
               for _, _, raw in w.handler.delivered)


def _echoed(w: World) -> int:
    with _db(w) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM messages WHERE flags LIKE '%ours%'").fetchone()[0])
