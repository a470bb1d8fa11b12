"""XClient (bridge.adapters.x_client) driving real tweepy over real HTTP against the fake X API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fake_x import CREATE, MENTIONS, SEARCH, USER_POSTS, FakeUser, FakeX
from structlog.testing import capture_logs

from bridge.adapters.x_client import MAX_PAGES, XClient
from bridge.errors import (
    AuthError,
    ConfigError,
    DuplicatePost,
    PermanentError,
    RateLimited,
    TransientError,
)

SECRETS = {"consumer_key": "ck-secret-1", "consumer_secret": "cs-secret-2",
           "access_token": "at-secret-3", "access_token_secret": "ats-secret-4"}
USER_TOKEN = "oauth2-user-token-5"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeX]:
    server = FakeX()
    server.add_user("listbridge", "List Bridge", created_at=T0 - timedelta(days=30),
                    access_token=SECRETS["access_token"], user_token=USER_TOKEN)
    server.add_user("jane", "Jane Doe", created_at=T0 - timedelta(days=900))
    server.start()
    yield server
    server.stop()


def users(fake: FakeX) -> tuple[FakeUser, FakeUser]:
    return fake.user("listbridge"), fake.user("jane")


def client(fake: FakeX, *, timeout: float = 2.0, oauth2: bool = False) -> XClient:
    if oauth2:
        return XClient(api_base_url=fake.base_url, oauth2_user_token=USER_TOKEN, timeout=timeout)
    return XClient(api_base_url=fake.base_url, timeout=timeout, **SECRETS)


def test_me_returns_the_account_behind_the_oauth1_keys(fake: FakeX) -> None:
    me = client(fake).me()
    bot, _ = users(fake)
    assert (me.id, me.username, me.name) == (bot.id, "listbridge", "List Bridge")
    assert me.created_at == T0 - timedelta(days=30)
    auth = fake.requests[-1].headers["Authorization"]
    assert auth.startswith("OAuth ")
    assert "oauth_consumer_key=" in auth and "oauth_signature=" in auth


def test_oauth2_user_token_is_sent_as_bearer_and_works(fake: FakeX) -> None:
    x = client(fake, oauth2=True)
    assert x.me().username == "listbridge"
    post_id = x.create_post("posted with an OAuth 2.0 user token")
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {USER_TOKEN}"
    assert [p.id for p in fake.posts_by(users(fake)[0])] == [post_id]


def test_create_post_then_recent_own_posts_shows_it_with_expanded_url(fake: FakeX) -> None:
    x = client(fake)
    link = "https://lists.example.org/archives/msg/abc123?x=1"
    post_id = x.create_post(f"Unanswered: where to buy archival boxes? {link}")
    assert fake.requests[-1].json == {"text": f"Unanswered: where to buy archival boxes? {link}"}
    own = x.recent_own_posts(users(fake)[0].id)
    assert [p.id for p in own] == [post_id]
    assert own[0].expanded_urls == (link,)
    assert link not in own[0].text and "https://t.co/" in own[0].text  # X shortens the link


def test_recent_own_posts_since_excludes_older_posts_and_sends_start_time(fake: FakeX) -> None:
    bot, _ = users(fake)
    fake.add_post(bot, "old one", created_at=T0 - timedelta(hours=3))
    new = fake.add_post(bot, "new one", created_at=T0 - timedelta(minutes=5))
    own = client(fake).recent_own_posts(bot.id, since=T0 - timedelta(hours=1))
    assert [p.id for p in own] == [new.id]
    assert own[0].created_at == T0 - timedelta(minutes=5)
    assert fake.requests[-1].query["start_time"] == "2026-03-02T08:00:00Z"


def test_recent_own_posts_returns_the_newest_max_results_oldest_first(fake: FakeX) -> None:
    bot, _ = users(fake)
    ids = [fake.add_post(bot, f"post {n}").id for n in range(12)]
    own = client(fake).recent_own_posts(bot.id, max_results=3)
    assert [p.id for p in own] == ids[-3:]
    assert fake.requests[-1].query["max_results"] == "5"  # X's minimum page size


def test_recent_own_posts_rejects_a_naive_since(fake: FakeX) -> None:
    with pytest.raises(ValueError):
        client(fake).recent_own_posts("1", since=datetime(2026, 1, 1))


def test_mentions_since_id_returns_only_newer_replies_with_author_and_references(
    fake: FakeX,
) -> None:
    bot, jane = users(fake)
    x = client(fake)
    root = x.create_post("A question from the list")
    first = fake.add_reply(root, jane, "first answer")
    second = fake.add_reply(root, jane, "second answer, see https://example.net/a")
    got = x.mentions(bot.id, since_id=first.id)
    assert [p.id for p in got] == [second.id]
    post = got[0]
    assert (post.author_id, post.author_username, post.author_name) == (jane.id, "jane", "Jane Doe")
    assert post.author_created_at == T0 - timedelta(days=900)
    assert post.conversation_id == root and post.in_reply_to_user_id == bot.id
    assert post.referenced == (("replied_to", root),)
    assert post.expanded_urls == ("https://example.net/a",)
    assert fake.requests[-1].query["since_id"] == first.id


def test_mentions_without_since_id_pages_through_all_oldest_first(fake: FakeX) -> None:
    bot, jane = users(fake)
    ids = [fake.add_post(jane, f"@listbridge hello {n}").id for n in range(130)]
    got = client(fake).mentions(bot.id, since_id=None)
    assert [p.id for p in got] == ids
    assert [r.path for r in fake.requests].count(f"/2/users/{bot.id}/mentions") == 2


def test_mentions_stop_after_max_pages_and_log_the_truncation(fake: FakeX) -> None:
    bot, jane = users(fake)
    for n in range(MAX_PAGES * 100 + 1):
        fake.add_post(jane, f"@listbridge ping {n}")
    with capture_logs() as logs:
        got = client(fake).mentions(bot.id, since_id=None)
    assert len(got) == MAX_PAGES * 100
    assert len(fake.requests) == MAX_PAGES
    assert [e["event"] for e in logs] == ["x_pages_truncated"]


def test_search_conversation_returns_only_that_conversation(fake: FakeX) -> None:
    _, jane = users(fake)
    x = client(fake)
    root = x.create_post("Question one")
    other = x.create_post("Question two")
    reply = fake.add_reply(root, jane, "answer to one")
    nested = fake.add_reply(reply.id, jane, "follow-up to my own answer")
    fake.add_reply(other, jane, "answer to two")
    got = x.search_conversation(root, since_id=reply.id)
    assert [p.id for p in got] == [nested.id]
    assert got[0].conversation_id == root and got[0].referenced == (("replied_to", reply.id),)
    assert fake.requests[-1].query["query"] == f"conversation_id:{root}"


def test_reference_field_renamed_to_referenced_posts_is_still_read() -> None:
    with FakeX(naming="posts") as fake:
        fake.add_user("listbridge", "Bot", access_token=SECRETS["access_token"])
        jane = fake.add_user("jane", "Jane")
        x = client(fake)
        root = x.create_post("question")
        fake.add_reply(root, jane, "answer")
        (got,) = x.search_conversation(root, since_id=root)
    assert got.referenced == (("replied_to", root),)


def test_429_raises_rate_limited_with_the_15_minute_reset(fake: FakeX) -> None:
    reset = int((T0 + timedelta(minutes=15)).timestamp())
    fake.rate_limit_next(MENTIONS, reset_at=reset)
    with pytest.raises(RateLimited) as caught:
        client(fake).mentions(users(fake)[0].id, since_id=None)
    assert caught.value.reset_at == T0 + timedelta(minutes=15)
    assert not caught.value.ambiguous
    assert len(fake.requests) == 1  # never retried here


def test_429_with_spent_24_hour_quota_uses_the_24_hour_reset(fake: FakeX) -> None:
    fake.rate_limit_next(CREATE, reset_at=int((T0 + timedelta(minutes=15)).timestamp()),
                         user_24h_reset=int((T0 + timedelta(hours=20)).timestamp()))
    with pytest.raises(RateLimited) as caught:
        client(fake).create_post("hello")
    assert caught.value.reset_at == T0 + timedelta(hours=20)
    assert fake.posts_by(users(fake)[0]) == []


def test_5xx_on_a_read_is_transient_and_not_ambiguous(fake: FakeX) -> None:
    fake.fail_next(SEARCH, 503)
    with pytest.raises(TransientError) as caught:
        client(fake).search_conversation("123", since_id=None)
    assert isinstance(caught.value, TransientError) and not caught.value.ambiguous


def test_5xx_on_create_post_is_transient_and_ambiguous(fake: FakeX) -> None:
    fake.fail_next(CREATE, 500)
    with pytest.raises(TransientError) as caught:
        client(fake).create_post("hello")
    assert caught.value.ambiguous


def test_connection_closed_after_commit_is_ambiguous_and_the_post_exists(fake: FakeX) -> None:
    fake.drop_after_commit_next()
    x = client(fake)
    with pytest.raises(TransientError) as caught:
        x.create_post("committed but never answered https://lists.example.org/m/1")
    assert caught.value.ambiguous
    (stored,) = fake.posts_by(users(fake)[0])
    assert stored.expanded_urls == ["https://lists.example.org/m/1"]
    own = x.recent_own_posts(users(fake)[0].id)
    assert [p.expanded_urls for p in own] == [("https://lists.example.org/m/1",)]


def test_read_timeout_after_commit_is_ambiguous_and_the_post_exists(fake: FakeX) -> None:
    fake.drop_after_commit_next(stall=5.0)
    with pytest.raises(TransientError) as caught:
        client(fake, timeout=0.3).create_post("slow X")
    assert caught.value.ambiguous
    assert "Timeout" in str(caught.value)
    assert [p.source_text for p in fake.posts_by(users(fake)[0])] == ["slow X"]


def test_connection_refused_is_transient_and_not_ambiguous() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    x = XClient(api_base_url=f"http://127.0.0.1:{port}", timeout=2.0, **SECRETS)
    with pytest.raises(TransientError) as caught:
        x.create_post("never sent")
    assert not caught.value.ambiguous


def test_same_text_twice_raises_duplicate_post(fake: FakeX) -> None:
    x = client(fake)
    x.create_post("the same words")
    with pytest.raises(DuplicatePost) as caught:
        x.create_post("the same words")
    assert isinstance(caught.value, PermanentError) and not isinstance(caught.value, AuthError)
    assert "duplicate content" in str(caught.value)


def test_refused_credentials_raise_auth_error_without_leaking_secrets(fake: FakeX) -> None:
    x = XClient(api_base_url=fake.base_url, timeout=2.0,
                **(SECRETS | {"access_token": "at-unknown-6"}))
    with pytest.raises(AuthError) as caught:
        x.me()
    assert "401" in str(caught.value)
    assert not any(s in str(caught.value) for s in [*SECRETS.values(), "at-unknown-6"])


def test_a_403_other_than_duplicate_is_an_auth_error(fake: FakeX) -> None:
    fake.fail_next(USER_POSTS, 403)
    with pytest.raises(AuthError):
        client(fake).recent_own_posts(users(fake)[0].id)


def test_400_is_permanent_not_transient(fake: FakeX) -> None:
    fake.fail_next(CREATE, 400)
    with pytest.raises(PermanentError) as caught:
        client(fake).create_post("hello")
    assert not isinstance(caught.value, (TransientError, AuthError))


def test_missing_or_mixed_credentials_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        XClient(consumer_key="only-one")
    with pytest.raises(ConfigError):
        XClient(oauth2_user_token="t", **SECRETS)


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(ConfigError):
        XClient(api_base_url="http://api.example.org", oauth2_user_token="t")
    XClient(api_base_url="http://127.0.0.1:9", oauth2_user_token="t")
    XClient(api_base_url="http://localhost:9", **SECRETS)


def test_another_real_host_needs_oauth2_because_oauth1_signs_the_tweepy_url() -> None:
    XClient(api_base_url="https://api.x.com", oauth2_user_token="t")
    with pytest.raises(ConfigError, match="oauth2_user_token"):
        XClient(api_base_url="https://api.x.com", **SECRETS)


def test_a_malformed_rate_limit_header_is_a_transient_ambiguous_error_not_a_crash() -> None:
    """tweepy int()s x-rate-limit-reset; a proxy's garbage there must not escape the adapter."""
    with FakeX() as fake:
        fake.add_user("bot", "Bot", access_token="tok")
        fake.rate_limit_next(CREATE, reset_at="soon")  # type: ignore[arg-type]
        client = XClient(api_base_url=fake.base_url, consumer_key="ck", consumer_secret="cs",
                         access_token="tok", access_token_secret="ts", timeout=3)
        with pytest.raises(TransientError) as err:
            client.create_post("hello")
        assert err.value.ambiguous
