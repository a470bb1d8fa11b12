"""The Bluesky adapter against a real local AT Protocol network: @atproto/dev-env (Node) with
PLC directory, PDS and AppView (indexing into a private PostgreSQL), all on loopback.

What the fake PDS (tests/fake_bluesky.py) assumes is checked here against the real servers: a
post at the question's TID record key, facets accepted, a repeated create at that key refused
without a second post, the record found again by getRecord, one session kept across restarts;
and, from the AppView through the PDS, replies and mentions read from the notifications and the
post thread, each relayed to the list once across repeated polls, naming the replier. Skipped
when the npm package is not installed (scripts/test installs it into .cache/atproto-devenv;
ATPROTO_DEVENV points elsewhere); the AppView tests also need PostgreSQL (scripts/test installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto_network import Actor, DevNetwork
from test_pipeline import ListMailbox, NoSender, question

from bridge.adapters.bluesky import POST, BlueskyAccount, BlueskyLogin, make_client, tid
from bridge.adapters.network import Outgoing, Uncertain
from bridge.cli.build import network_publish
from bridge.compose.relay_email import RelaySettings
from bridge.config.sections import NetworkCaps
from bridge.config.settings import Config
from bridge.decide.caps import PublishSettings
from bridge.decide.matcher import MatcherSettings
from bridge.errors import BridgeError
from bridge.service.networks import NetworkService
from bridge.service.pipeline import Bridge, Services
from bridge.store.db import Store
from bridge.store.sessions import StoredSession

LINK = "https://lists.example.org/archives/list/solo@lists.example.org/thread/ABCDEF/"
NOW = datetime.now(UTC).replace(microsecond=0)  # the servers stamp records with the real clock


class MemoryVault:
    def __init__(self) -> None:
        self.session: tuple[str, datetime] | None = None
        self.created = 0

    def load(self) -> tuple[str, datetime] | None:
        return self.session

    def save(self, session: str, created_at: datetime | None) -> None:
        self.created += created_at is not None
        self.session = (session, created_at or (self.session[1] if self.session else datetime.now(UTC)))


@dataclass
class Bot:
    """The bridge's own account on the dev-env PDS and the app password an admin made for it."""

    actor: Actor
    app_password: str


@pytest.fixture
def bot(atproto_network: DevNetwork) -> Bot:
    actor = atproto_network.add_actor("bridge", "List Bridge")
    return Bot(actor, atproto_network.app_password(actor))


@pytest.fixture
def appview(atproto_network: DevNetwork) -> DevNetwork:
    if atproto_network.appview is None:
        pytest.skip("the AppView needs PostgreSQL (Debian postgresql; scripts/test installs it)")
    return atproto_network


def account(net: DevNetwork, bot: Bot, vault: MemoryVault | StoredSession) -> BlueskyAccount:
    return BlueskyAccount(make_client(net.pds, 30), BlueskyLogin(bot.actor.handle,
                                                                 lambda: bot.app_password), vault)


def test_a_post_at_the_questions_key_is_made_once_on_a_real_pds(atproto_network: DevNetwork,
                                                                bot: Bot) -> None:
    vault = MemoryVault()
    created = datetime.now(UTC).replace(microsecond=0)
    text = f"Unanswered: how do I renew serials? #sololibrarians {LINK}"
    post = Outgoing("q1@example.org", "bluesky", text, LINK, "Serials", created)
    uri = account(atproto_network, bot, vault).publish(post)
    assert uri.endswith("/" + tid(created, post.key))
    with pytest.raises(BridgeError):  # the same key again: refused, no second post
        account(atproto_network, bot, vault).publish(post)
    assert account(atproto_network, bot, vault).find_post(post, created) == uri
    records = atproto_network.records(bot.actor)
    mine = [r for r in records if str(r["uri"]) == uri]
    assert len(mine) == 1 and len(records) == 1
    value = mine[0]["value"]
    assert isinstance(value, dict) and value["langs"] == ["en"] and len(value["facets"]) == 2
    assert vault.created == 1  # one session, kept by the three accounts above


def test_check_auth_uses_the_kept_session(atproto_network: DevNetwork, bot: Bot) -> None:
    vault = MemoryVault()
    assert account(atproto_network, bot, vault).check_auth() == bot.actor.handle
    assert account(atproto_network, bot, vault).check_auth() == bot.actor.handle
    assert vault.created == 1


# -- the AppView: replies, mentions, the thread, the feed ----------------------------------------


class LostAnswer:
    """The bridge's Bluesky account, but the answer to its first create is lost after the PDS
    committed the post (as when the process is killed before it records the post id)."""

    def __init__(self, real: BlueskyAccount) -> None:
        self.real = real
        self.name = real.name
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def publish(self, post: Outgoing) -> str:
        uri = self.real.publish(post)
        if self.lost == 0:
            self.lost += 1
            raise Uncertain("bluesky: connection dropped after the request was sent")
        return uri


@dataclass
class World:
    net: DevNetwork
    bot: Bot
    db: Path
    mailbox: ListMailbox
    sender: NoSender

    def sky(self) -> BlueskyAccount:
        return BlueskyAccount(make_client(self.net.pds, 30),
                              BlueskyLogin(self.bot.actor.handle, lambda: self.bot.app_password),
                              StoredSession(str(self.db), "bluesky"), language="en")

    def bridge(self, network: BlueskyAccount | LostAnswer | None = None) -> Bridge:
        """A fresh Bridge on the same database: a restart, as after kill -9."""
        base = PublishSettings(min_spacing=timedelta(0), max_per_hour=50, max_per_day=50,
                               reconcile_window=timedelta(minutes=10))
        service = NetworkService(network or self.sky(), network_publish(base, NetworkCaps()))
        relay = RelaySettings(from_address="bridge@bridge.example.net",
                              list_address="list@lists.example.org",
                              admin_contact="admin@example.net", batch_window=timedelta(0))
        config = Config(matcher=MatcherSettings(unanswered_after=timedelta(minutes=10)),
                        publish=base, relay=relay)
        return Bridge(config, Store.open(self.db),
                      Services(mailbox=self.mailbox, sender=self.sender, networks=[service]))

    def xrpc(self, method: str, **params: object) -> dict[str, Any]:
        """An app.bsky.* query as the bridge's account (the PDS proxies it to the AppView)."""
        with self.net.http() as http:
            found = http.get(f"/xrpc/{method}", params=params,
                             headers={"Authorization": f"Bearer {self.bot.actor.token}"})
            found.raise_for_status()
            return dict(found.json())

    def relayed(self) -> list[str]:
        return [message_from_bytes(raw, policy=policy.default).get_body().get_content()  # type: ignore[union-attr]
                for raw in self.sender.sent]


@pytest.fixture
def world(appview: DevNetwork, bot: Bot, tmp_path: Path) -> Iterator[World]:
    yield World(appview, bot, tmp_path / "b.sqlite3", ListMailbox(), NoSender())


def test_replies_and_mentions_from_the_appview_are_relayed_once_naming_the_replier(
        world: World) -> None:
    world.mailbox.delivered.append(question(1, NOW - timedelta(hours=4)))
    bridge = world.bridge()
    assert bridge.cycle(NOW).ok
    (ours,) = world.net.records(world.bot.actor)
    net = world.net
    ana = net.add_actor("ana", "Ana Lima")
    bo = net.add_actor("bo")  # no profile: named by the handle alone
    cy = net.add_actor("cy", "Cy Reader")
    eve = net.add_actor("eve", created_at=None)  # no profile record: the AppView gives no age
    direct = net.reply(ana, ours["uri"], "Ask your vendor for a renewal report.")
    mention = net.reply(bo, ours["uri"], "the serials module has a renewal list.", mention=world.bot.actor)
    net.sync()
    notes = world.xrpc("app.bsky.notification.listNotifications", limit=50)["notifications"]
    assert sorted(n["reason"] for n in notes) == ["mention", "reply"]  # a mention outranks a reply
    assert bridge.cycle(NOW + timedelta(minutes=20)).ok
    nested = net.reply(cy, direct.uri, "+1, our vendor sends one each quarter.")
    unknown = net.reply(eve, ours["uri"], "Renewals are easy.")
    net.sync()
    notes = world.xrpc("app.bsky.notification.listNotifications", limit=50)["notifications"]
    assert {n["uri"]: n["reason"] for n in notes} == {  # the root's author hears of a nested reply
        direct.uri: "reply", mention.uri: "mention", nested.uri: "reply", unknown.uri: "reply"}
    for minutes in (40, 60, 80):
        assert bridge.cycle(NOW + timedelta(minutes=minutes)).ok
    bodies = world.relayed()
    texts = ("Ask your vendor for a renewal report.", "the serials module has a renewal list.",
             "+1, our vendor sends one each quarter.")
    for text in texts:
        assert sum(b.count(text) for b in bodies) == 1, text  # each reply relayed exactly once
    joined = "\n".join(bodies)
    assert f"Ana Lima (@{ana.handle}) wrote on Bluesky" in joined
    assert f"\n@{bo.handle} wrote on Bluesky" in joined  # no display name: the handle alone
    assert f"@{world.bot.actor.handle}" not in joined  # the leading mention of us is left out
    assert f"Cy Reader (@{cy.handle}) wrote on Bluesky" in joined
    for who, ref in ((ana, direct), (bo, mention), (cy, nested)):
        assert f"https://bsky.app/profile/{who.handle}/post/{ref.uri.rsplit('/', 1)[1]}" in joined
    for raw in world.sender.sent:
        assert message_from_bytes(raw)["In-Reply-To"] == "<p1@example.org>"
    assert "Renewals are easy." not in joined
    stored = dict(bridge.store.conn.execute("SELECT reply_id, status FROM replies").fetchall())
    assert stored == {**{f"bluesky:{r.uri}": "relayed" for r in (direct, mention, nested)},
                      f"bluesky:{unknown.uri}": "held"}  # account age unknown: a moderator decides
    (reason,) = bridge.store.conn.execute("SELECT reason FROM replies WHERE status = 'held'").fetchone()
    assert reason == "account age unknown (the network did not say)"


def test_a_post_whose_answer_was_lost_is_found_after_a_restart_not_posted_again(world: World) -> None:
    """The create reached the PDS but its answer was lost and the process died with the row
    pending: the restarted bridge finds the post at the question's key and confirms it; the
    AppView's feed of the account shows one post."""
    world.mailbox.delivered.append(question(2, NOW - timedelta(hours=4)))
    lossy = LostAnswer(world.sky())
    crashed = world.bridge(lossy)
    crashed.cycle(NOW)
    assert lossy.lost == 1
    rows = crashed.store.conn.execute("SELECT status FROM posts WHERE network = 'bluesky'").fetchall()
    assert rows == [("pending",)] and len(world.net.records(world.bot.actor)) == 1
    crashed.store.close()
    restarted = world.bridge()
    for minutes in (1, 20, 40):
        assert restarted.cycle(NOW + timedelta(minutes=minutes)).ok
    (ours,) = world.net.records(world.bot.actor)
    found = restarted.store.conn.execute("SELECT status, post_id FROM posts WHERE network = 'bluesky'")
    assert found.fetchall() == [("confirmed", ours["uri"])]
    world.net.sync()
    feed = world.xrpc("app.bsky.feed.getAuthorFeed", actor=world.bot.actor.did, limit=50)["feed"]
    assert [item["post"]["uri"] for item in feed] == [ours["uri"]]
    assert feed[0]["post"]["record"]["$type"] == POST


def test_the_thread_reaches_replies_the_notifications_do_not_name(world: World) -> None:
    """Adapter level: replies_since with the notification cursor past everything still reads the
    post's thread (getPostThread), and a reply seen in both is returned once."""
    sky = world.sky()
    created = datetime.now(UTC).replace(microsecond=0)
    ours = sky.publish(Outgoing("q3@example.org", "bluesky", f"How? {LINK}", LINK, "", created))
    dee = world.net.add_actor("dee", "Dee Cataloguer")
    first = world.net.reply(dee, ours, "Check the prediction pattern.")
    deeper = world.net.reply(dee, first.uri, "And the subscription's end date.")
    world.net.sync()
    batch = sky.replies_since(None, [ours])
    assert sorted(r.id for r in batch.replies) == sorted([first.uri, deeper.uri])
    assert batch.cursor is not None
    later = sky.replies_since(batch.cursor, [ours])  # nothing new in the notifications
    assert sorted(r.id for r in later.replies) == sorted([first.uri, deeper.uri])  # the thread
    got = {r.id: r for r in batch.replies}
    assert got[first.uri].author.display == f"Dee Cataloguer (@{dee.handle})"
    assert got[first.uri].post_id == ours and got[deeper.uri].post_id == ours
    with httpx.Client(timeout=5, trust_env=False) as http:  # the AppView itself is on loopback
        assert http.get(f"{world.net.appview}/xrpc/_health").status_code == 200
