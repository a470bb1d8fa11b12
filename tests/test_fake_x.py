"""The fake X API itself: response shapes after X's OpenAPI spec, auth, faults, recording."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from fake_x import CREATE, DUPLICATE_DETAIL, ME, FakeX

OAUTH1 = ('OAuth oauth_consumer_key="ck", oauth_token="at-bot", oauth_signature_method="HMAC-SHA1",'
          ' oauth_signature="c2lnbmF0dXJl", oauth_nonce="n", oauth_timestamp="1", '
          'oauth_version="1.0"')
BEARER = {"Authorization": "Bearer ut-bot"}
ID = re.compile(r"[0-9]{1,19}")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIELDS = {"tweet.fields": "author_id,conversation_id,created_at,entities,in_reply_to_user_id,"
          "referenced_tweets", "expansions": "author_id", "user.fields": "created_at,name,username"}


@pytest.fixture
def fake() -> Iterator[FakeX]:
    server = FakeX()
    server.add_user("bot", "Bot", created_at=T0, access_token="at-bot", user_token="ut-bot")
    server.add_user("jane", "Jane Doe", created_at=T0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


def post(http: requests.Session, fake: FakeX, text: str, **kw: Any) -> requests.Response:
    return http.post(fake.base_url + "/2/tweets", json={"text": text}, headers=BEARER,
                     timeout=2, **kw)


def get(http: requests.Session, fake: FakeX, path: str, **params: Any) -> requests.Response:
    return http.get(fake.base_url + path, params=params, headers=BEARER, timeout=2)


def test_create_post_answers_201_with_id_text_and_edit_history(fake: FakeX,
                                                               http: requests.Session) -> None:
    first, second = post(http, fake, "one"), post(http, fake, "two")
    assert first.status_code == 201
    data = first.json()["data"]
    assert set(data) == {"id", "text", "edit_history_tweet_ids"}
    assert ID.fullmatch(data["id"]) and data["edit_history_tweet_ids"] == [data["id"]]
    assert int(second.json()["data"]["id"]) > int(data["id"])


def test_urls_become_23_char_tco_links_indexed_by_entities(fake: FakeX,
                                                           http: requests.Session) -> None:
    link = "https://lists.example.org/arch/msg?id=42"
    post_id = post(http, fake, f"Ünïcode first: {link}. Then text").json()["data"]["id"]
    body = get(http, fake, f"/2/users/{fake.user('bot').id}/tweets", **FIELDS).json()
    (item,) = body["data"]
    (url,) = item["entities"]["urls"]
    assert item["id"] == post_id and url["expanded_url"] == link  # trailing "." not in the URL
    assert len(url["url"]) == 23 and url["url"].startswith("https://t.co/")
    assert item["text"][url["start"]:url["end"]] == url["url"]
    assert item["text"].endswith(". Then text")


def test_users_me_shape(fake: FakeX, http: requests.Session) -> None:
    body = get(http, fake, "/2/users/me", **{"user.fields": "created_at"}).json()
    assert body == {"data": {"id": fake.user("bot").id, "name": "Bot", "username": "bot",
                             "created_at": "2026-03-02T09:00:00.000Z"}}


def test_fields_appear_only_when_requested(fake: FakeX, http: requests.Session) -> None:
    post(http, fake, "plain")
    (item,) = get(http, fake, f"/2/users/{fake.user('bot').id}/tweets").json()["data"]
    assert set(item) == {"id", "text", "edit_history_tweet_ids"}


def test_reply_mentions_parent_author_and_keeps_the_root_conversation(
    fake: FakeX, http: requests.Session
) -> None:
    bot, jane = fake.user("bot"), fake.user("jane")
    root = post(http, fake, "question").json()["data"]["id"]
    reply = fake.add_reply(root, jane, "answer")
    nested = fake.add_reply(reply.id, bot, "thanks")
    assert reply.text == "@bot answer" and nested.text == "@jane thanks"
    assert nested.conversation_id == root and nested.in_reply_to_user_id == jane.id
    body = get(http, fake, f"/2/users/{bot.id}/mentions", **FIELDS).json()
    (item,) = body["data"]
    assert item["referenced_tweets"] == [{"type": "replied_to", "id": root}]
    assert item["author_id"] == jane.id and item["in_reply_to_user_id"] == bot.id
    assert item["entities"]["mentions"] == [{"start": 0, "end": 4, "username": "bot",
                                             "id": bot.id}]
    assert body["includes"]["users"] == [{"id": jane.id, "name": "Jane Doe", "username": "jane",
                                          "created_at": "2026-03-02T09:00:00.000Z"}]
    assert body["meta"] == {"result_count": 1, "newest_id": reply.id, "oldest_id": reply.id}


def test_list_pages_newest_first_with_next_token_and_since_id(fake: FakeX,
                                                              http: requests.Session) -> None:
    bot, jane = fake.user("bot"), fake.user("jane")
    ids = [fake.add_post(jane, f"@bot n{n}").id for n in range(7)]
    path = f"/2/users/{bot.id}/mentions"
    first = get(http, fake, path, max_results=5, since_id=ids[0]).json()
    assert [d["id"] for d in first["data"]] == ids[:0:-1][:5]
    assert first["meta"]["result_count"] == 5 and "next_token" in first["meta"]
    rest = get(http, fake, path, max_results=5, since_id=ids[0],
               pagination_token=first["meta"]["next_token"]).json()
    assert [d["id"] for d in rest["data"]] == [ids[1]] and "next_token" not in rest["meta"]


def test_empty_list_has_no_data_and_result_count_zero(fake: FakeX,
                                                      http: requests.Session) -> None:
    body = get(http, fake, f"/2/users/{fake.user('bot').id}/mentions").json()
    assert body == {"meta": {"result_count": 0}}


def test_search_recent_by_conversation_within_seven_days(http: requests.Session) -> None:
    now = [T0]
    with FakeX(clock=lambda: now[0]) as fake:
        bot = fake.add_user("bot", "Bot", user_token="ut-bot")
        jane = fake.add_user("jane", "Jane")
        old = fake.add_post(bot, "old question", created_at=T0 - timedelta(days=8))
        fake.add_reply(old.id, jane, "too old", created_at=T0 - timedelta(days=7, hours=1))
        late = fake.add_reply(old.id, jane, "late answer to an old question")
        root = fake.add_post(bot, "question")
        reply = fake.add_reply(root.id, jane, "answer")
        fake.add_post(jane, "unrelated")
        for conversation, expected in ((root.id, [reply.id, root.id]), (old.id, [late.id])):
            body = get(http, fake, "/2/tweets/search/recent",
                       query=f"conversation_id:{conversation}").json()
            assert [d["id"] for d in body.get("data", [])] == expected


def test_invalid_parameters_get_a_400_invalid_request_problem(fake: FakeX,
                                                              http: requests.Session) -> None:
    bad = [
        (f"/2/users/{fake.user('bot').id}/mentions", {"max_results": 4}),
        ("/2/tweets/search/recent", {"query": "conversation_id:1", "max_results": 5}),
        ("/2/tweets/search/recent", {"query": "x" * 513}),
        ("/2/tweets/search/recent", {"query": "lang:en"}),
        (f"/2/users/{fake.user('bot').id}/tweets", {"tweet.fields": "nonsense"}),
        (f"/2/users/{fake.user('bot').id}/tweets", {"since_id": "abc"}),
    ]
    for path, params in bad:
        response = get(http, fake, path, **params)
        assert response.status_code == 400, (path, params)
        assert response.headers["Content-Type"] == "application/problem+json"
        body = response.json()
        assert body["type"] == "https://api.x.com/2/problems/invalid-request"
        assert {"title", "detail"} <= set(body)


def test_create_post_refuses_unknown_body(fake: FakeX, http: requests.Session) -> None:
    response = http.post(fake.base_url + "/2/tweets", json={"status": "v1 style"},
                         headers=BEARER, timeout=2)
    assert response.status_code == 400 and fake.posts_by(fake.user("bot")) == []


def test_same_text_twice_by_the_same_user_is_403_duplicate(fake: FakeX,
                                                           http: requests.Session) -> None:
    assert post(http, fake, "same").status_code == 201
    response = post(http, fake, "same")
    assert response.status_code == 403
    assert response.json() == {"title": "Forbidden", "detail": DUPLICATE_DETAIL,
                               "type": "about:blank", "status": 403}
    assert len(fake.posts_by(fake.user("bot"))) == 1


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer nobody"},
    {"Authorization": OAUTH1.replace(' oauth_signature="c2lnbmF0dXJl",', "")},
    {"Authorization": OAUTH1.replace('oauth_token="at-bot"', 'oauth_token="other"')},
])
def test_missing_or_unknown_credentials_get_401(fake: FakeX, http: requests.Session,
                                                headers: dict[str, str]) -> None:
    response = http.get(fake.base_url + "/2/users/me", headers=headers, timeout=2)
    assert response.status_code == 401
    assert response.json() == {"title": "Unauthorized", "detail": "Unauthorized",
                               "type": "about:blank", "status": 401}


def test_oauth1_header_with_key_and_signature_is_accepted(fake: FakeX,
                                                          http: requests.Session) -> None:
    response = http.get(fake.base_url + "/2/users/me", headers={"Authorization": OAUTH1},
                        timeout=2)
    assert response.status_code == 200 and response.json()["data"]["username"] == "bot"


def test_rate_limit_fault_sends_429_with_headers_then_recovers(fake: FakeX,
                                                               http: requests.Session) -> None:
    fake.rate_limit_next(ME, reset_at=1_800_000_000, user_24h_reset=1_800_050_000)
    limited = get(http, fake, "/2/users/me")
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert limited.headers["x-rate-limit-reset"] == "1800000000"
    assert limited.headers["x-user-limit-24hour-remaining"] == "0"
    assert limited.headers["x-user-limit-24hour-reset"] == "1800050000"
    assert limited.json()["status"] == 429
    ok = get(http, fake, "/2/users/me")
    assert ok.status_code == 200 and int(ok.headers["x-rate-limit-remaining"]) > 0


def test_fail_next_counts_calls_per_endpoint(fake: FakeX, http: requests.Session) -> None:
    fake.fail_next(CREATE, 503, count=2)
    assert get(http, fake, "/2/users/me").status_code == 200  # other endpoints unaffected
    assert [post(http, fake, f"t{n}").status_code for n in range(3)] == [503, 503, 201]
    with pytest.raises(ValueError):
        fake.fail_next("GET /2/nowhere", 500)


def test_drop_after_commit_stores_the_post_and_sends_no_answer(fake: FakeX,
                                                               http: requests.Session) -> None:
    fake.drop_after_commit_next()
    with pytest.raises(requests.ConnectionError):
        post(http, fake, "committed")
    assert [p.source_text for p in fake.posts_by(fake.user("bot"))] == ["committed"]
    assert post(http, fake, "next one").status_code == 201


def test_every_request_is_recorded(fake: FakeX, http: requests.Session) -> None:
    post(http, fake, "hello")
    get(http, fake, "/2/tweets/search/recent", query="conversation_id:5", max_results=10)
    first, second = fake.requests
    assert (first.method, first.path, first.json) == ("POST", "/2/tweets", {"text": "hello"})
    assert (second.method, second.path) == ("GET", "/2/tweets/search/recent")
    assert second.query == {"query": "conversation_id:5", "max_results": "10"}


def test_posts_naming_emits_the_newer_spec_field_names(http: requests.Session) -> None:
    with FakeX(naming="posts") as fake:
        bot = fake.add_user("bot", "Bot", user_token="ut-bot")
        root = fake.add_post(bot, "q")
        fake.add_reply(root.id, fake.add_user("jane", "Jane"), "a")
        body = get(http, fake, f"/2/users/{bot.id}/mentions", **FIELDS).json()
    (item,) = body["data"]
    assert item["referenced_posts"] == [{"type": "replied_to", "id": root.id}]
    assert "referenced_tweets" not in item and "edit_history_post_ids" in item

