"""The Mastodon adapter driven through Mastodon.py against the fake server over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_mastodon import FakeAccount, FakeMastodon
from mastodon import Mastodon

from bridge.adapters.mastodon import MastodonAccount, status_text, strip_mentions
from bridge.adapters.network import NotSent, Outgoing, RateLimited, Uncertain
from bridge.cli.build import build_mastodon
from bridge.config.secrets import SecretRef
from bridge.config.sections import MastodonSettings
from bridge.errors import AuthError, PermanentError

LINK = "https://lists.example.org/thread/abc123"
CREATE = "POST /api/v1/statuses"


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon(max_characters=480) as server:
        yield server


@pytest.fixture
def bot(fake: FakeMastodon) -> FakeAccount:
    return fake.add_account("bridge", "List Bridge", token="tok-bridge")


def account(fake: FakeMastodon, token: str = "tok-bridge", visibility: str = "unlisted",
            language: str = "de") -> MastodonAccount:
    api = Mastodon(access_token=token, api_base_url=fake.base_url, ratelimit_method="throw",
                   request_timeout=5, version_check_mode="none")
    api.session.trust_env = False
    return MastodonAccount(api, visibility=visibility, language=language)


def outgoing(root: str = "q1@example.org", link: str = LINK) -> Outgoing:
    return Outgoing(root, "mastodon", f"Unanswered: how do I catalogue zines? #library {link}", link)


def test_text_rules_come_from_the_instance(fake: FakeMastodon, bot: FakeAccount) -> None:
    fake.url_weight = 30
    rules = account(fake).text_rules()
    assert (rules.max_length, rules.url_weight) == (480, 30)
    account(fake).text_rules()
    assert rules.length("ab " + LINK, [LINK]) == 3 + 30


def test_publish_sends_visibility_language_and_a_stable_idempotency_key(
        fake: FakeMastodon, bot: FakeAccount) -> None:
    net = account(fake)
    post_id = net.publish(outgoing())
    (req,) = fake.calls("POST", "/api/v1/statuses")
    assert req.form["visibility"] == "unlisted" and req.form["language"] == "de"
    assert req.headers["idempotency-key"] == outgoing().key
    assert outgoing().key != outgoing("q2@example.org").key
    assert Outgoing("q1@example.org", "bluesky", "t", LINK).key != outgoing().key
    assert [s.id for s in fake.posts_by(bot)] == [post_id]


def test_a_repeated_publish_after_a_lost_answer_creates_nothing(
        fake: FakeMastodon, bot: FakeAccount) -> None:
    """The status is made but the answer is a 500: the resend with the same key returns it."""
    net = account(fake)
    fake.fail_next(CREATE, 500, after_commit=True)
    with pytest.raises(Uncertain):
        net.publish(outgoing())
    again = net.publish(outgoing())
    assert [s.id for s in fake.posts_by(bot)] == [again]


def test_find_post_reconciles_by_the_link_across_pages(fake: FakeMastodon, bot: FakeAccount) -> None:
    net = account(fake)
    first = net.publish(outgoing())
    for i in range(60):  # pushes our status to the second page of 40
        net.publish(outgoing(f"other{i}@example.org", f"{LINK}-{i}"))
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert net.find_post(outgoing(), since) == first
    assert net.find_post(outgoing("none@example.org", "https://lists.example.org/x"), since) is None
    assert len(fake.calls("GET", f"/api/v1/accounts/{bot.id}/statuses")) >= 2


def test_over_length_is_a_permanent_refusal(fake: FakeMastodon, bot: FakeAccount) -> None:
    fake.max_characters = 40
    with pytest.raises(PermanentError, match="character limit of 40"):
        account(fake).publish(outgoing())
    assert fake.posts_by(bot) == []


def test_429_is_rate_limited_with_the_servers_reset(fake: FakeMastodon, bot: FakeAccount) -> None:
    fake.fail_next(CREATE, 429, reset_in=120)
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        account(fake).publish(outgoing())
    assert caught.value.reset_at is not None
    assert before + timedelta(seconds=60) < caught.value.reset_at < before + timedelta(seconds=180)
    assert len(fake.calls("POST", "/api/v1/statuses")) == 1  # thrown, not waited through


def test_503_surely_did_not_post_and_401_is_auth(fake: FakeMastodon, bot: FakeAccount) -> None:
    fake.fail_next(CREATE, 503)
    with pytest.raises(NotSent):
        account(fake).publish(outgoing())
    with pytest.raises(AuthError):
        account(fake, token="wrong").publish(outgoing())
    assert account(fake).check_auth() == "bridge"


def test_replies_from_mentions_and_context_name_the_replier(
        fake: FakeMastodon, bot: FakeAccount) -> None:
    net = account(fake)
    ours = net.publish(outgoing())
    jane = fake.add_account("jane", "Jane Doe", domain="library.example")
    kim = fake.add_account("kim", "Kim", token="tok-kim")
    direct = fake.reply(jane, ours, "@bridge Try the <zine> schema: https://example.net/z")
    nested = fake.reply(kim, direct.id, "@jane agreed")  # no mention of us: found via context
    fake.reply(kim, "1", "@bridge unrelated")  # answers something else: not ours
    batch = net.replies_since(None, [ours])
    got = {r.id: r for r in batch.replies}
    assert set(got) == {direct.id, nested.id}
    assert got[direct.id].author.display == "Jane Doe (@jane@library.example)"
    assert got[nested.id].author.display == f"Kim (@kim@{fake.host})"
    assert got[direct.id].text == "Try the <zine> schema: https://example.net/z"
    assert got[direct.id].urls == ("https://example.net/z",)
    assert got[direct.id].url.endswith(f"/@jane/{direct.id}") and got[direct.id].post_id == ours
    assert batch.cursor is not None
    later = fake.reply(jane, ours, "@bridge one more")
    again = net.replies_since(batch.cursor, [ours])
    assert later.id in {r.id for r in again.replies} and int(again.cursor or 0) > int(batch.cursor)
    assert net.replies_since(None, []).replies == ()  # only replies to the posts named


def test_notifications_are_paged_by_link_header_down_to_the_cursor(
        fake: FakeMastodon, bot: FakeAccount) -> None:
    net = account(fake)
    ours = net.publish(outgoing())
    jane = fake.add_account("jane", "Jane", domain="library.example")
    fake.reply(jane, ours, "@bridge first")
    cursor = net.replies_since(None, [ours]).cursor
    assert cursor is not None
    made = [fake.reply(jane, ours, f"@bridge answer {i}").id for i in range(90)]
    before = len(fake.calls("GET", "/api/v1/notifications"))
    batch = net.replies_since(cursor, [ours])
    assert set(made) <= {r.id for r in batch.replies}
    assert batch.cursor == max((n for n, _, _ in fake.notifications), key=int)
    assert batch.reads >= 90 + 91  # 90 mentions, then the context's 91 descendants
    pages = fake.calls("GET", "/api/v1/notifications")[before:]
    assert len(pages) == 3  # 40 + 40, then the page that reaches the cursor: no read past it
    assert all(p.query.get("since_id") == cursor for p in pages[:1])


def test_status_text_and_mentions() -> None:
    assert status_text("<p>a &amp; b<br>c</p><p>d</p>") == "a & b\nc\nd"
    assert strip_mentions("@bridge @jane@x.example thanks", "bridge") == "thanks"
    assert strip_mentions("@jane hello", "bridge") == "@jane hello"


def test_the_production_builder_throws_a_429_instead_of_waiting(
        fake: FakeMastodon, bot: FakeAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """cli.build's account, not the test helper's: Mastodon.py's default would sleep until the
    reset inside the cycle; the bridge must get RateLimited at once and schedule the retry."""
    token = tmp_path / "token"
    token.write_text("tok-bridge\n")
    built = build_mastodon(MastodonSettings(api_base_url=fake.base_url,
                                            access_token=SecretRef("file", str(token))))
    for proxy in ("http_proxy", "https_proxy", "all_proxy"):  # loopback only, whatever the machine sets
        monkeypatch.delenv(proxy, raising=False)
        monkeypatch.delenv(proxy.upper(), raising=False)
    fake.fail_next(CREATE, 429, reset_in=120)
    with pytest.raises(RateLimited) as caught:
        built.publish(outgoing())
    assert caught.value.reset_at is not None
    assert len(fake.calls("POST", "/api/v1/statuses")) == 1
