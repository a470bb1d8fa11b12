"""End to end on a real Bluesky network: `listserv-bridge run` as a subprocess with a [bluesky]
section pointing at the @atproto/dev-env PDS (which proxies notifications and threads to the
AppView on PostgreSQL), Dovecot as the list's mailbox and aiosmtpd as its SMTP server. The
question is posted once on Bluesky; a dev-env account's reply reaches the list once, threaded
under the question and naming the replier with a link to the reply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from atproto_network import Actor, DevNetwork
from bridge_world import World, add_network, make_world, question, running, stop, wait_for
from dovecot import Account, DovecotServer

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account,
          atproto_network: DevNetwork) -> Iterator[tuple[World, DevNetwork, Actor]]:
    if atproto_network.appview is None:
        pytest.skip("the AppView needs PostgreSQL (Debian postgresql; scripts/test installs it)")
    bot = atproto_network.add_actor("listbridge", "List Bridge")
    with make_world(tmp_path, dovecot_server, imap_account) as built:
        add_network(built, "bluesky", "app_password", atproto_network.app_password(bot),
                    identifier=bot.handle, service=atproto_network.pds, timeout="10s")
        yield built, atproto_network, bot


def test_a_bluesky_reply_from_the_appview_reaches_the_list_once(
        world: tuple[World, DevNetwork, Actor]) -> None:
    w, net, bot = world
    w.dovecot.append(w.account, question())
    ana = net.add_actor("ana", "Ana Lima")
    with running(w) as (proc, _):
        ours = wait_for("the question posted on Bluesky", lambda: net.records(bot), 90)
        assert isinstance(ours, list) and len(ours) == 1
        reply = net.reply(ana, str(ours[0]["uri"]), "Koha's numbering pattern with a custom frequency.")
        net.sync()
        wait_for("the reply relayed to the list", lambda: w.handler.delivered, 90)
        seen = len(_bluesky_polls(w))
        # two more polls (min_poll_interval 5s) read the reply again and store nothing new
        wait_for("two more polls", lambda: len(_bluesky_polls(w)) >= seen + 2, 60)
        assert stop(proc) == 0
    assert all(p["duplicates"] == 1 for p in _bluesky_polls(w)[seen:])
    assert len(net.records(bot)) == 1  # posted once
    (delivered,) = w.handler.delivered
    mail = message_from_bytes(delivered[2], policy=policy.default)
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert body.count("Koha's numbering pattern with a custom frequency.") == 1
    assert f"Ana Lima (@{ana.handle}) wrote on Bluesky" in body
    assert f"https://bsky.app/profile/{ana.handle}/post/{reply.uri.rsplit('/', 1)[1]}" in body
    assert mail["In-Reply-To"] == "<e2e-q1@members.example.org>"


def _bluesky_polls(w: World) -> list[dict[str, object]]:
    """The daemon's Bluesky reply polls, from its JSON log lines."""
    lines = [json.loads(line) for line in w.log().splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("event") == "replies_polled" and e.get("network") == "bluesky"]
