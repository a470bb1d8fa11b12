"""Crash safety on Mastodon and Bluesky at every durable step, as tests/test_publisher.py,
test_replies.py and test_relaying.py pin it for X: a kill (a BaseException nothing in the stages
catches, or a real SIGKILL of a child process) at each step, then a restart over the same
database file with new objects. Each network is checked through its own mechanism: Mastodon's
Idempotency-Key and its account's statuses, Bluesky's record key and getRecord; the fakes are
driven through Mastodon.py and the atproto SDK over loopback HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from smtp_server import RecordingHandler, SmtpServer, plain_sender
from test_networks import NOW, World, accounts, network_world
from test_pipeline import question
from test_relaying import CrashingSender, Killed

from bridge.adapters.network import Outgoing
from bridge.config.sections import ReplySettings
from bridge.decide.moderation import ModerationSettings
from bridge.service.pipeline import Bridge
from bridge.stages.network import Network
from bridge.stages.network_replies import cursor_source, poll_network
from bridge.store.db import Store

NETWORKS = ("mastodon", "bluesky")
TESTS = Path(__file__).resolve().parent
HOLD = ModerationSettings(mode="hold")


class KilledAt:
    """A network adapter whose process dies in publish: "before" the call, or "after" the network
    took the post (its answer dies with the process)."""

    def __init__(self, inner: Network, when: str) -> None:
        self.inner, self.when = inner, when
        self.name = inner.name

    def publish(self, post: Outgoing) -> str:
        if self.when == "after":
            self.inner.publish(post)
        raise Killed(f"killed {self.when} the call")

    def __getattr__(self, attr: str) -> Any:  # text_rules, find_post, resend_is_safe, ...
        return getattr(self.inner, attr)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with network_world(tmp_path) as built:
        built.mailbox.delivered.append(question(1, NOW - timedelta(hours=4)))
        yield built


def killing(bridge: Bridge, network: str, when: str) -> Bridge:
    for service in bridge.services.networks:
        if service.name == network:
            service.network = KilledAt(service.network, when)
    return bridge


def posts_on(world: World, network: str) -> list[str]:
    """Our posts on `network`: status ids, record URIs."""
    if network == "mastodon":
        return [s.id for s in world.mastodon.posts_by(world.toot_bot)]
    return [r.uri for r in world.bluesky.posts_by(world.sky_bot)]


def creates(world: World, network: str) -> int:
    """Create requests the network received (whether or not they made a post)."""
    if network == "mastodon":
        return len(world.mastodon.calls("POST", "/api/v1/statuses"))
    return len(world.bluesky.calls("com.atproto.repo.createRecord"))


def reply_on(world: World, network: str, text: str) -> str:
    """Someone answers our post on `network`; the id the bridge stores for that reply."""
    if network == "mastodon":
        jane = world.mastodon.add_account("jane", "Jane Doe", domain="library.example")
        return "mastodon:" + world.mastodon.reply(jane, posts_on(world, network)[0], f"@bridge {text}").id
    ana = world.bluesky.add_actor("ana.bsky.social", "Ana Lima")
    return "bluesky:" + world.bluesky.reply(ana, posts_on(world, network)[0], text).uri


def rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    store = Store.open(db)
    try:
        return [tuple(r) for r in store.conn.execute(sql, args)]
    finally:
        store.close()


def post_rows(db: Path) -> dict[str, tuple[str, str | None]]:
    return {r[0]: (r[1], r[2]) for r in rows(db, "SELECT network, status, post_id FROM posts")}


def restart(world: World, at: Sequence[int], **kwargs: Any) -> Bridge:
    """A new process over the same database: cycles at NOW + each of `at` minutes."""
    bridge = world.bridge(**kwargs)
    for minutes in at:
        bridge.cycle(NOW + timedelta(minutes=minutes))
    return bridge


# -- publishing ------------------------------------------------------------------------------
@pytest.mark.parametrize("network", NETWORKS)
def test_kill_between_pending_row_and_call_posts_once_at_the_next_cycle(
        world: World, network: str) -> None:
    """X waits its reconcile window (here 2 h) before sending again; the record key and the
    Idempotency-Key make the resend safe, so the question goes out at once and once."""
    killed = killing(world.bridge(reconcile=timedelta(hours=2)), network, "before")
    with pytest.raises(Killed):
        killed.cycle(NOW)
    killed.store.close()
    assert post_rows(world.db)[network] == ("pending", None) and creates(world, network) == 0
    restart(world, (1, 2), reconcile=timedelta(hours=2)).store.close()
    [post_id] = posts_on(world, network)
    assert creates(world, network) == 1
    assert post_rows(world.db)[network] == ("confirmed", post_id)
    assert {status for status, _ in post_rows(world.db).values()} == {"confirmed"}
    assert all(len(posts_on(world, n)) == 1 for n in NETWORKS)


@pytest.mark.parametrize("network", NETWORKS)
def test_kill_between_accepted_post_and_confirmation_is_reconciled_without_a_second_create(
        world: World, network: str) -> None:
    """The network has the post, our row says pending: the restart finds it (the account's
    statuses by link; the record at the question's key) and never sends the create again."""
    killed = killing(world.bridge(), network, "after")
    with pytest.raises(Killed):
        killed.cycle(NOW)
    killed.store.close()
    [post_id] = posts_on(world, network)
    assert post_rows(world.db)[network] == ("pending", None)
    restart(world, (1, 20, 40)).store.close()
    assert post_rows(world.db)[network] == ("confirmed", post_id)
    assert posts_on(world, network) == [post_id] and creates(world, network) == 1


# -- reply polling ---------------------------------------------------------------------------
KILL_IN_COMMIT = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime
    from test_networks import accounts
    from bridge.config.sections import ReplySettings
    from bridge.decide.moderation import ModerationSettings
    from bridge.stages.network_replies import poll_network
    from bridge.store.db import Store

    db, network, mastodon_url, bluesky_url, now = sys.argv[1:6]
    [net] = [n for n in accounts(mastodon_url, bluesky_url, db) if n.name == network]
    store = Store.open(db)
    def die_before_commit(sql):
        # the poll's own row is the transaction's last write: replies and cursor are in it
        if sql.startswith("INSERT INTO reply_polls"):
            os.kill(os.getpid(), signal.SIGKILL)
    store.conn.set_trace_callback(die_before_commit)
    poll_network(store, net, ReplySettings(), ModerationSettings(mode="hold"),
                 datetime.fromisoformat(now))
""")


def poll(world: World, network: str, now: datetime) -> dict[str, int]:
    [net] = [n for n in accounts(world.mastodon.base_url, world.bluesky.base_url, world.db)
             if n.name == network]
    store = Store.open(world.db)
    try:
        return poll_network(store, net, ReplySettings(), HOLD, now).stored
    finally:
        store.close()


def cursor(world: World, network: str) -> list[tuple[Any, ...]]:
    return rows(world.db, "SELECT since_id FROM reply_cursors WHERE source = ?",
                cursor_source(network))


@pytest.mark.parametrize("network", NETWORKS)
def test_sigkill_inside_the_poll_transaction_stores_no_reply_and_no_cursor_then_once(
        world: World, network: str) -> None:
    restart(world, (0,)).store.close()  # posted on both networks (and polled once)
    reply_id = reply_on(world, network, "Use the renewal list in the serials module.")
    later = NOW + timedelta(hours=1)
    child = subprocess.run(
        [sys.executable, "-c", KILL_IN_COMMIT, str(world.db), network, world.mastodon.base_url,
         world.bluesky.base_url, later.isoformat()], capture_output=True, timeout=60,
        env=os.environ | {"PYTHONPATH": str(TESTS)})
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert rows(world.db, "SELECT reply_id FROM replies") == [] and cursor(world, network) == []
    assert poll(world, network, later + timedelta(seconds=1)) == {"held": 1}
    assert cursor(world, network) != []
    assert poll(world, network, later + timedelta(hours=1)) == {}  # read again, stored once
    assert rows(world.db, "SELECT reply_id, network FROM replies") == [(reply_id, network)]


# -- relaying --------------------------------------------------------------------------------
@pytest.mark.parametrize("when", ("before", "after"))
@pytest.mark.parametrize("network", NETWORKS)
def test_a_relay_of_a_network_reply_reaches_the_list_once_across_a_kill(
        world: World, network: str, when: str) -> None:
    """Killed before SMTP: sent once after the grace. Killed after the server took it: the
    list's echo settles it and nothing is resent, however long the restart runs."""
    handler = RecordingHandler()
    with SmtpServer(handler) as smtp:
        restart(world, (0,)).store.close()
        reply_on(world, network, "Ask your vendor for a renewal report.")
        killed = world.bridge(sender=CrashingSender(plain_sender(smtp.port), when))
        with pytest.raises(Killed):
            killed.cycle(NOW + timedelta(minutes=20))  # polls, stores, relays: killed in SMTP
        killed.store.close()
        assert len(handler.delivered) == (1 if when == "after" else 0)
        bridge = world.bridge(sender=plain_sender(smtp.port))
        for minutes in (21, 22, 60, 120, 240):
            bridge.cycle(NOW + timedelta(minutes=minutes))
            world.mailbox.delivered += [raw for _, _, raw in handler.delivered
                                        if raw not in world.mailbox.delivered]  # the list's echo
        bridge.store.close()
    assert len(handler.delivered) == 1
    mail = message_from_bytes(handler.delivered[0][2], policy=policy.default)
    assert mail["In-Reply-To"] == "<p1@example.org>"
    shown = {"mastodon": "Jane Doe (@jane@library.example) wrote on Mastodon",
             "bluesky": "Ana Lima (@ana.bsky.social) wrote on Bluesky"}[network]
    assert shown in mail.get_body().get_content()  # type: ignore[union-attr]
    assert rows(world.db, "SELECT status FROM relays") == [("sent",)]
    assert rows(world.db, "SELECT network, status FROM replies") == [(network, "relayed")]
