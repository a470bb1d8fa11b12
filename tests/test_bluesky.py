"""The Bluesky adapter driven through the atproto SDK against the fake PDS over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fake_bluesky import FakeActor, FakeBluesky

from bridge.adapters.bluesky import BlueskyAccount, BlueskyLogin, make_client, tid
from bridge.adapters.network import NotSent, Outgoing, RateLimited, Uncertain
from bridge.errors import AuthError

LINK = "https://lists.example.org/archives/thread/7QXJ3MZ2KTAJ5/very-long-slug-for-the-thread"
CREATED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class MemoryVault:
    def __init__(self) -> None:
        self.session: tuple[str, datetime] | None = None
        self.saves = 0

    def load(self) -> tuple[str, datetime] | None:
        return self.session

    def save(self, session: str, created_at: datetime | None) -> None:
        self.saves += 1
        when = created_at or (self.session[1] if self.session else datetime.now(UTC))
        self.session = (session, when)


@pytest.fixture
def pds() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        yield server


@pytest.fixture
def bot(pds: FakeBluesky) -> FakeActor:
    return pds.add_actor("bridge.test", "List Bridge", app_password="abcd-efgh-ijkl-mnop")


def account(pds: FakeBluesky, vault: MemoryVault, password: str = "abcd-efgh-ijkl-mnop",
            card: bool = False) -> BlueskyAccount:
    login = BlueskyLogin("bridge.test", lambda: password)
    return BlueskyAccount(make_client(pds.base_url, 5), login, vault, language="fr",
                          link_card=card)


def outgoing(root: str = "q1@example.org") -> Outgoing:
    return Outgoing(root, "bluesky", f"Sans réponse : où trouver des zines ? #bibliothèque {LINK}",
                    LINK, "Zines?", CREATED)


def test_post_has_a_tid_key_facets_over_tag_and_link_and_langs(pds: FakeBluesky,
                                                                bot: FakeActor) -> None:
    uri = account(pds, MemoryVault(), card=True).publish(outgoing())
    (record,) = pds.posts_by(bot)
    assert record.uri == uri and record.rkey == tid(CREATED, outgoing().key)
    value = record.value
    raw = value["text"].encode()
    spans = {f["features"][0]["$type"].rsplit("#")[1]: raw[f["index"]["byteStart"]:
                                                            f["index"]["byteEnd"]].decode()
             for f in value["facets"]}
    assert spans["tag"] == "#bibliothèque"
    assert spans["link"].startswith("lists.example.org/") and spans["link"].endswith("…")
    link_feature = next(f["features"][0] for f in value["facets"] if "uri" in f["features"][0])
    assert link_feature["uri"] == LINK and value["langs"] == ["fr"]
    assert value["embed"]["external"]["uri"] == LINK and value["embed"]["external"]["title"] == "Zines?"


def test_a_repeated_create_makes_no_second_post_and_getrecord_finds_the_first(
        pds: FakeBluesky, bot: FakeActor) -> None:
    net = account(pds, MemoryVault())
    pds.fail_next("com.atproto.repo.createRecord", 502, "UpstreamFailure", after_commit=True)
    with pytest.raises(Uncertain):
        net.publish(outgoing())
    with pytest.raises(Uncertain):  # the PDS refuses the existing key with a 500
        net.publish(outgoing())
    found = net.find_post(outgoing(), CREATED - timedelta(minutes=5))
    assert found == pds.posts_by(bot)[0].uri and len(pds.posts_by(bot)) == 1
    assert net.find_post(outgoing("other@example.org"), CREATED) is None
    assert tid(CREATED, "a") != tid(CREATED, "b") and tid(CREATED, "a") == tid(CREATED, "a")


def test_the_session_is_created_once_and_kept_across_restarts(pds: FakeBluesky, bot: FakeActor) -> None:
    vault = MemoryVault()
    account(pds, vault).publish(outgoing("a@example.org"))
    account(pds, vault).publish(outgoing("b@example.org"))  # a new process: the stored session
    assert len(pds.sessions_created) == 1 and vault.session is not None


def test_a_server_side_expired_token_is_refreshed_not_recreated(pds: FakeBluesky,
                                                                 bot: FakeActor) -> None:
    vault = MemoryVault()
    net = account(pds, vault)
    net.publish(outgoing("a@example.org"))
    pds.expire_access_tokens()
    net.publish(outgoing("b@example.org"))
    assert len(pds.sessions_created) == 1
    assert len(pds.calls("com.atproto.server.refreshSession")) == 1
    assert len(pds.posts_by(bot)) == 2 and vault.saves == 2


def test_refused_app_password_is_auth_and_no_session_storm(pds: FakeBluesky, bot: FakeActor) -> None:
    net = account(pds, MemoryVault(), password="wrong")
    with pytest.raises(AuthError):
        net.publish(outgoing())
    with pytest.raises(NotSent):
        net.publish(outgoing())
    assert len(pds.calls("com.atproto.server.createSession")) == 1


def test_429_is_rate_limited_with_the_reset(pds: FakeBluesky, bot: FakeActor) -> None:
    pds.fail_next("com.atproto.repo.createRecord", 429, "RateLimitExceeded", reset_in=600)
    with pytest.raises(RateLimited) as caught:
        account(pds, MemoryVault()).publish(outgoing())
    assert caught.value.reset_at is not None
    assert caught.value.reset_at > datetime.now(UTC) + timedelta(minutes=8)
    assert pds.posts_by(bot) == []


def test_replies_from_notifications_and_the_thread(pds: FakeBluesky, bot: FakeActor) -> None:
    net = account(pds, MemoryVault())
    ours = net.publish(outgoing())
    ana = pds.add_actor("ana.bsky.social", "Ana Lima")
    bo = pds.add_actor("bo.example.com")
    direct = pds.reply(ana, ours, "Try the zine catalogue")
    nested = pds.reply(bo, direct.uri, "+1 to that")
    pds.reply(ana, nested.uri, "thanks")
    batch = net.replies_since(None, [ours])
    got = {r.id: r for r in batch.replies}
    assert set(got) == {direct.uri, nested.uri} | {r.uri for r in pds.records[-1:]}
    assert got[direct.uri].author.display == "Ana Lima (@ana.bsky.social)"
    assert got[nested.uri].author.display == "@bo.example.com"
    assert got[direct.uri].url == f"https://bsky.app/profile/ana.bsky.social/post/{direct.rkey}"
    assert got[direct.uri].post_id == ours and got[direct.uri].text == "Try the zine catalogue"
    assert batch.cursor is not None
    assert net.replies_since(None, []).replies == ()
