"""Mastodon and Bluesky in the bridge's cycle: each question posted once per network (its own row,
text and state), a failure on one never blocking or repeating the other, doubt settled by the
network (statuses by link; the record at the question's key), and replies from both relayed to
the list once, naming the replier as the network shows them. Real SQLite, the fake servers over
real HTTP driven through Mastodon.py and the atproto SDK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from fake_bluesky import FakeActor, FakeBluesky
from fake_mastodon import FakeAccount, FakeMastodon
from mastodon import Mastodon
from test_pipeline import ListMailbox, NoSender, question

from bridge.adapters.bluesky import BlueskyAccount, BlueskyLogin, make_client
from bridge.adapters.mastodon import MastodonAccount
from bridge.cli.build import network_publish
from bridge.compose.relay_email import RelaySettings
from bridge.config.sections import NetworkCaps
from bridge.config.settings import Config
from bridge.decide.caps import PublishSettings
from bridge.decide.matcher import MatcherSettings
from bridge.service.networks import NetworkService
from bridge.service.pipeline import Bridge, Services
from bridge.stages.network import Network
from bridge.stages.relay import MailSender
from bridge.store.db import Store
from bridge.store.sessions import StoredSession

NOW = datetime.now(UTC).replace(microsecond=0)  # the fakes stamp posts with the real clock


@dataclass
class World:
    mastodon: FakeMastodon
    bluesky: FakeBluesky
    toot_bot: FakeAccount
    sky_bot: FakeActor
    db: Path
    mailbox: ListMailbox
    sender: NoSender

    def bridge(self, caps: NetworkCaps | None = None,
               reconcile: timedelta = timedelta(minutes=10),
               sender: MailSender | None = None) -> Bridge:
        caps = caps or NetworkCaps()
        base = PublishSettings(min_spacing=timedelta(0), max_per_hour=50, max_per_day=50,
                               reconcile_window=reconcile)
        networks = [NetworkService(network, network_publish(base, caps)) for network in
                    accounts(self.mastodon.base_url, self.bluesky.base_url, self.db)]
        relay = RelaySettings(from_address="bridge@bridge.example.net",
                              list_address="list@lists.example.org",
                              admin_contact="admin@example.net", batch_window=timedelta(0))
        config = Config(matcher=MatcherSettings(unanswered_after=timedelta(minutes=10)),
                        publish=base, relay=relay)
        services = Services(mailbox=self.mailbox, sender=sender or self.sender, networks=networks)
        return Bridge(config, Store.open(self.db), services)


def accounts(mastodon_url: str, bluesky_url: str, db: Path) -> list[Network]:
    """The bridge's accounts on the fakes, as `cli.build` makes them (also run by child processes)."""
    api = Mastodon(access_token="tok", api_base_url=mastodon_url, ratelimit_method="throw",
                   request_timeout=5, version_check_mode="none")
    api.session.trust_env = False
    sky = BlueskyAccount(make_client(bluesky_url, 5), BlueskyLogin("bridge.test", lambda: "app-pass"),
                         StoredSession(str(db), "bluesky"), language="en")
    return [MastodonAccount(api), sky]


@contextmanager
def network_world(tmp_path: Path) -> Iterator[World]:
    """Both fakes running, the bridge's account on each, a list mailbox and a recording sender."""
    with FakeMastodon() as toots, FakeBluesky() as sky:
        toot_bot = toots.add_account("bridge", "List Bridge", token="tok")
        sky_bot = sky.add_actor("bridge.test", "List Bridge", app_password="app-pass")
        yield World(toots, sky, toot_bot, sky_bot, tmp_path / "b.sqlite3", ListMailbox(),
                    NoSender())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with network_world(tmp_path) as built:
        yield built


def statuses(world: World) -> list[str]:
    return [s.text for s in world.mastodon.posts_by(world.toot_bot)]


def skeets(world: World) -> list[str]:
    return [r.value["text"] for r in world.bluesky.posts_by(world.sky_bot)]


def test_a_due_question_is_posted_once_on_each_network(world: World) -> None:
    world.mailbox.delivered.append(question(1, NOW - timedelta(hours=4)))
    bridge = world.bridge()
    assert bridge.cycle(NOW).ok
    assert bridge.cycle(NOW + timedelta(minutes=1)).ok
    assert len(statuses(world)) == 1 and len(skeets(world)) == 1
    assert "How do I renew serial 1" in statuses(world)[0]
    record = world.bluesky.posts_by(world.sky_bot)[0].value
    assert {f["features"][0]["$type"] for f in record["facets"]} == {
        "app.bsky.richtext.facet#link", "app.bsky.richtext.facet#tag"}
    rows = bridge.store.conn.execute("SELECT network, status FROM posts ORDER BY network").fetchall()
    assert rows == [("bluesky", "confirmed"), ("mastodon", "confirmed")]
    assert len(world.bluesky.sessions_created) == 1


def test_a_failing_network_neither_blocks_nor_repeats_the_other(world: World) -> None:
    world.mailbox.delivered.append(question(1, NOW - timedelta(hours=4)))
    world.mastodon.fail_next("POST /api/v1/statuses", 503)  # surely not posted: retried later
    bridge = world.bridge()
    assert bridge.cycle(NOW).ok
    assert statuses(world) == [] and len(skeets(world)) == 1
    for minutes in (1, 6, 7):
        bridge.cycle(NOW + timedelta(minutes=minutes))
    assert len(statuses(world)) == 1 and len(skeets(world)) == 1


def test_doubt_after_the_call_is_settled_by_each_network_not_by_a_second_post(world: World) -> None:
    """Both creates succeed but their answers are lost (a 500/502 after the commit): the rows
    stay pending; the next cycles find the status by its link and the record at its key."""
    world.mailbox.delivered.append(question(1, NOW - timedelta(hours=4)))
    world.mastodon.fail_next("POST /api/v1/statuses", 500, after_commit=True)
    world.bluesky.fail_next("com.atproto.repo.createRecord", 502, "UpstreamFailure",
                            after_commit=True)
    bridge = world.bridge()
    bridge.cycle(NOW)
    rows = dict(bridge.store.conn.execute("SELECT network, status FROM posts").fetchall())
    assert rows == {"mastodon": "pending", "bluesky": "pending"}
    for minutes in (1, 20, 40):
        bridge.cycle(NOW + timedelta(minutes=minutes))
    rows = dict(bridge.store.conn.execute("SELECT network, status FROM posts").fetchall())
    assert rows == {"mastodon": "confirmed", "bluesky": "confirmed"}
    assert len(statuses(world)) == 1 and len(skeets(world)) == 1
    assert len(world.bluesky.calls("com.atproto.repo.getRecord")) >= 1


def test_dry_run_on_one_network_posts_nothing_there(world: World) -> None:
    world.mailbox.delivered.append(question(1, NOW - timedelta(hours=4)))
    world.bridge(NetworkCaps(dry_run=True)).cycle(NOW)
    assert statuses(world) == [] and skeets(world) == []


def test_replies_from_both_networks_are_relayed_once_naming_the_replier(world: World) -> None:
    world.mailbox.delivered.append(question(1, NOW - timedelta(hours=4)))
    bridge = world.bridge()
    bridge.cycle(NOW)
    toot = world.mastodon.posts_by(world.toot_bot)[0]
    jane = world.mastodon.add_account("jane", "Jane Doe", domain="library.example")
    world.mastodon.reply(jane, toot.id, "@bridge Use the renewal list in the serials module.")
    ana = world.bluesky.add_actor("ana.bsky.social", "Ana Lima")
    world.bluesky.reply(ana, world.bluesky.posts_by(world.sky_bot)[0].uri,
                        "Ask your vendor for a renewal report.")
    for minutes in (20, 40, 60):
        bridge.cycle(NOW + timedelta(minutes=minutes))
    assert len(world.sender.sent) == 1  # one relay for the question, carrying both replies
    mail = message_from_bytes(world.sender.sent[0], policy=policy.default)
    assert mail["In-Reply-To"] == "<p1@example.org>"
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "Jane Doe (@jane@library.example) wrote on Mastodon" in body
    assert "Ana Lima (@ana.bsky.social) wrote on Bluesky" in body
    assert "https://social.example/@jane/" in body
    assert "https://bsky.app/profile/ana.bsky.social/post/" in body
    assert "renewal list in the serials module" in body and "@bridge" not in body
    stored = bridge.store.conn.execute("SELECT network, status FROM replies ORDER BY network")
    assert stored.fetchall() == [("bluesky", "relayed"), ("mastodon", "relayed")]


def test_config_sections_and_build(tmp_path: Path) -> None:
    from bridge.cli.build import build_networks
    from bridge.config.settings import parse_config
    from bridge.errors import ConfigError

    data = {"publish": {"max_per_day": 9},
            "mastodon": {"api_base_url": "https://social.example/", "visibility": "unlisted",
                         "access_token": {"env": "NW_TEST_TOKEN"}, "max_per_day": 3},
            "bluesky": {"identifier": "@bridge.example.org", "app_password": {"env": "NW_PW"},
                        "link_card": True, "quiet_hours": "22:00-07:00"}}
    config = parse_config(data, "t.toml")
    assert config.mastodon is not None and config.mastodon.api_base_url == "https://social.example"
    assert config.bluesky is not None and config.bluesky.identifier == "bridge.example.org"
    import os
    os.environ["NW_TEST_TOKEN"] = "tok"
    try:
        built = build_networks(config, str(tmp_path / "s.sqlite3"))
    finally:
        del os.environ["NW_TEST_TOKEN"]
    assert [n.name for n in built] == ["mastodon", "bluesky"]
    assert built[0].publish.max_per_day == 3 and built[1].publish.max_per_day == 9
    assert built[1].publish.quiet_hours == "22:00-07:00" and built[0].publish.price_post_with_link == 0
    with pytest.raises(ConfigError) as bad:
        parse_config({"mastodon": {"api_base_url": "http://social.example", "visibility": "secret"},
                      "bluesky": {"link_card": True}}, "t.toml")
    text = str(bad.value)
    for key in ("mastodon.api_base_url", "mastodon.visibility", "mastodon.access_token",
                "bluesky.identifier", "bluesky.app_password"):
        assert key in text


def test_check_and_status_cover_each_network(world: World, tmp_path: Path) -> None:
    import io

    from bridge.cli.ops import collect_status, print_status, run_checks
    from bridge.config.settings import parse_config

    (tmp_path / "tok").write_text("tok\n")
    (tmp_path / "pw").write_text("app-pass\n")
    config = parse_config({
        "mastodon": {"api_base_url": world.mastodon.base_url,
                     "access_token": {"file": str(tmp_path / "tok")}},
        "bluesky": {"identifier": "bridge.test", "service": world.bluesky.base_url,
                    "app_password": {"file": str(tmp_path / "pw")}}}, "t.toml")
    results = {r.name: r for r in run_checks(config, str(world.db))}
    assert results["Mastodon"].ok and "500 characters, a link counts 23" in results["Mastodon"].detail
    assert results["Bluesky"].ok and "@bridge.test" in results["Bluesky"].detail
    run_checks(config, str(world.db))  # a second check uses the kept session
    assert len(world.bluesky.sessions_created) == 1
    bad = parse_config({"mastodon": {"api_base_url": world.mastodon.base_url,
                                     "access_token": {"file": str(tmp_path / "pw")}}}, "t.toml")
    (failed,) = [r for r in run_checks(bad, str(world.db)) if r.name == "Mastodon"]
    assert not failed.ok and "refused the credentials" in failed.fix

    world.mailbox.delivered.append(question(1, NOW - timedelta(hours=4)))
    bridge = world.bridge()
    bridge.cycle(NOW)
    out = io.StringIO()
    print_status(collect_status(bridge.store, Config(), NOW), out, as_json=False)
    assert "mastodon: posts 1 confirmed; replies none" in out.getvalue()
    assert "bluesky: posts 1 confirmed; replies none" in out.getvalue()


# -- 429: the reset headers schedule the next attempt; nothing sleeps in the cycle ------------
CREATE = {"mastodon": ("POST /api/v1/statuses",), "bluesky": ("com.atproto.repo.createRecord",
                                                             "RateLimitExceeded")}
NOTIFICATIONS = {"mastodon": ("GET /api/v1/notifications",),
                 "bluesky": ("app.bsky.notification.listNotifications", "RateLimitExceeded")}


def rate_limit_next(world: World, network: str, endpoint: tuple[str, ...], reset_in: int) -> None:
    """The next call to `endpoint` answers 429 with the network's own reset header (Mastodon:
    X-RateLimit-Reset, an ISO time; Bluesky: ratelimit-reset, epoch seconds)."""
    if network == "mastodon":
        world.mastodon.fail_next(endpoint[0], 429, reset_in=reset_in)
    else:
        world.bluesky.fail_next(endpoint[0], 429, endpoint[1], reset_in=reset_in)


def requests_to(world: World, network: str, endpoint: tuple[str, ...]) -> int:
    if network == "mastodon":
        method, path = endpoint[0].split(" ")
        return len(world.mastodon.calls(method, path))
    return len(world.bluesky.calls(endpoint[0]))


@pytest.mark.parametrize("network", ["mastodon", "bluesky"])
def test_a_429_on_a_post_schedules_it_at_the_reset_and_sends_nothing_before(
        world: World, network: str) -> None:
    from bridge.store import posts as rows

    now = datetime.now(UTC).replace(microsecond=0)  # the fakes' resets count from the real clock
    world.mailbox.delivered.append(question(1, now - timedelta(hours=4)))
    rate_limit_next(world, network, CREATE[network], reset_in=1800)
    bridge = world.bridge()
    report = bridge.cycle(now)
    reset = datetime.now(UTC) + timedelta(seconds=1800)
    assert requests_to(world, network, CREATE[network]) == 1  # thrown at once, not waited through
    block = rows.posting_state(bridge.store, network).blocked_until
    assert block is not None and abs(block - reset.timestamp()) < 60
    assert report.next_wake is not None and report.next_wake <= now + timedelta(minutes=31)
    queued_at = rows.next_attempts(bridge.store, network)[1]
    assert queued_at is not None and abs((queued_at - reset).total_seconds()) < 60
    for minutes in (1, 10, 25):  # before the reset: nothing is sent
        bridge.cycle(now + timedelta(minutes=minutes))
    assert requests_to(world, network, CREATE[network]) == 1
    bridge.cycle(now + timedelta(minutes=32))
    assert requests_to(world, network, CREATE[network]) == 2
    found = dict(bridge.store.conn.execute("SELECT network, status FROM posts").fetchall())
    assert found == {"mastodon": "confirmed", "bluesky": "confirmed"}


@pytest.mark.parametrize("network", ["mastodon", "bluesky"])
def test_a_429_on_a_reply_poll_schedules_the_next_poll_at_the_reset(
        world: World, network: str) -> None:
    from bridge.stages.replies import next_poll_at

    now = datetime.now(UTC).replace(microsecond=0)  # the fakes' resets count from the real clock
    world.mailbox.delivered.append(question(1, now - timedelta(hours=4)))
    bridge = world.bridge()
    bridge.cycle(now)  # posted, and the first poll
    rate_limit_next(world, network, NOTIFICATIONS[network], reset_in=3600)
    polls = requests_to(world, network, NOTIFICATIONS[network])
    bridge.cycle(now + timedelta(minutes=20))
    reset = datetime.now(UTC) + timedelta(seconds=3600)
    assert requests_to(world, network, NOTIFICATIONS[network]) == polls + 1
    due, why = next_poll_at(bridge.store.conn, bridge.config.replies, now + timedelta(minutes=20),
                            network)
    assert abs((due - reset).total_seconds()) < 60 and why.startswith("rate limited by")
    bridge.cycle(now + timedelta(minutes=40))  # past the poll interval, before the reset
    assert requests_to(world, network, NOTIFICATIONS[network]) == polls + 1
    bridge.cycle(now + timedelta(minutes=62))
    assert requests_to(world, network, NOTIFICATIONS[network]) == polls + 2


def test_the_served_metrics_count_each_network_apart(world: World) -> None:
    """Posts, replies fetched, replies relayed, errors and 429 waits per network, scraped from
    /metrics over HTTP; each configured network's series is there (as 0) before anything happens."""
    from test_metrics import scrape

    from bridge.service.metrics import Metrics

    now = datetime.now(UTC).replace(microsecond=0)  # the fakes' resets count from the real clock
    metrics = Metrics.start("127.0.0.1", 0, networks=("mastodon", "bluesky"))
    try:
        bridge = world.bridge()
        bridge.metrics = metrics

        def count(name: str, network: str) -> float:
            return scrape(metrics)[f'listserv_bridge_{name}_total{{network="{network}"}}']

        assert count("posts_published", "mastodon") == count("rate_limit_waits", "bluesky") == 0
        world.mailbox.delivered.append(question(1, now - timedelta(hours=4)))
        world.mastodon.fail_next("POST /api/v1/statuses", 503)  # surely not sent: retried
        world.bluesky.fail_next("com.atproto.repo.createRecord", 429, "RateLimitExceeded",
                                reset_in=600)
        bridge.cycle(now)
        assert (count("network_errors", "mastodon"), count("rate_limit_waits", "mastodon")) == (1, 0)
        assert (count("network_errors", "bluesky"), count("rate_limit_waits", "bluesky")) == (0, 1)
        assert count("posts_published", "mastodon") == count("posts_published", "bluesky") == 0
        bridge.cycle(now + timedelta(minutes=11))
        assert count("posts_published", "mastodon") == count("posts_published", "bluesky") == 1
        jane = world.mastodon.add_account("jane", "Jane Doe", domain="library.example")
        world.mastodon.reply(jane, world.mastodon.posts_by(world.toot_bot)[0].id,
                             "@bridge Use the renewal list in the serials module.")
        ana = world.bluesky.add_actor("ana.bsky.social", "Ana Lima")
        for text in ("Ask your vendor for a renewal report.", "Or the consortium's serials desk."):
            world.bluesky.reply(ana, world.bluesky.posts_by(world.sky_bot)[0].uri, text)
        bridge.cycle(now + timedelta(minutes=30))
        assert (count("replies_fetched", "mastodon"), count("replies_fetched", "bluesky")) == (1, 2)
        assert (count("replies_relayed", "mastodon"), count("replies_relayed", "bluesky")) == (1, 2)
        assert count("posts_published", "mastodon") == count("posts_published", "bluesky") == 1
        assert count("network_errors", "bluesky") == 0
    finally:
        metrics.stop()
