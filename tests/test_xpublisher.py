"""The X account as a Publisher (bridge.adapters.x_account): [x] config, client building, finding by link."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from fake_x import FakeX

from bridge.adapters.x_account import XPublisher, same_link
from bridge.adapters.x_client import TWEEPY_HOST, XClient
from bridge.cli.build import build_x_client
from bridge.config.reader import Section
from bridge.config.secrets import SecretRef
from bridge.config.sections import XSettings
from bridge.config.services import read_x
from bridge.errors import AuthError, ConfigError

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ENV_KEYS = {"consumer_key": {"env": "X_CK"}, "consumer_secret": {"env": "X_CS"},
            "access_token": {"env": "X_AT"}, "access_token_secret": {"env": "X_ATS"}}


@pytest.fixture
def fake() -> Iterator[FakeX]:
    server = FakeX(clock=lambda: T0)
    server.add_user("listbridge", "List Bridge", access_token="bot-token", user_token="u2-token")
    server.start()
    yield server
    server.stop()


def read(data: Mapping[str, object]) -> tuple[XSettings, list[str]]:
    problems: list[str] = []
    return read_x(Section(dict(data), "x", problems)), problems


def test_read_x_oauth1_takes_four_secret_references_and_the_timeout() -> None:
    got, problems = read({**ENV_KEYS, "timeout": "10s"})
    assert problems == []
    assert got.auth == "oauth1" and got.api_base_url == TWEEPY_HOST
    assert got.access_token == SecretRef("env", "X_AT")
    assert got.timeout == timedelta(seconds=10) and got.oauth2_user_token is None


def test_read_x_oauth2_needs_only_the_user_token() -> None:
    got, problems = read({"auth": "oauth2", "oauth2_user_token": {"file": "/run/x-token"}})
    assert problems == [] and got.oauth2_user_token == SecretRef("file", "/run/x-token")


@pytest.mark.parametrize(("data", "expected"), [
    ({}, "x.consumer_key: required"),
    ({**ENV_KEYS, "access_token": "plain-secret"}, "x.access_token: secrets must not be written"),
    ({"auth": "oauth2"}, "x.oauth2_user_token: required"),
    ({"auth": "oauth2", "oauth2_user_token": {"env": "T"}, "consumer_key": {"env": "C"}},
     "x: the OAuth 1.0a keys are only for auth"),
    ({**ENV_KEYS, "oauth2_user_token": {"env": "T"}}, "x.oauth2_user_token: only with auth"),
    ({**ENV_KEYS, "api_base_url": "http://x.example.net"}, "x.api_base_url: must be https"),
    ({**ENV_KEYS, "timeout": "0s"}, "x.timeout: must be between 1s and 5m"),
    ({**ENV_KEYS, "auth": "basic"}, "x.auth: must be one of oauth1, oauth2"),
    ({**ENV_KEYS, "token": {"env": "T"}}, "x.token: unknown key"),
])
def test_read_x_reports_each_problem_with_its_key_path(
    data: dict[str, object], expected: str,
) -> None:
    _, problems = read(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_build_x_client_resolves_secrets_and_talks_to_x(
    fake: FakeX, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var, value in (("X_CK", "ck"), ("X_CS", "cs"), ("X_AT", "bot-token"), ("X_ATS", "ats")):
        monkeypatch.setenv(var, value)
    settings, _ = read({**ENV_KEYS, "api_base_url": fake.base_url})
    assert XPublisher(build_x_client(settings)).check_auth() == "listbridge"
    monkeypatch.setenv("U2", "u2-token")
    oauth2, _ = read({"auth": "oauth2", "oauth2_user_token": {"env": "U2"},
                      "api_base_url": fake.base_url})
    assert XPublisher(build_x_client(oauth2)).check_auth() == "listbridge"


def test_build_x_client_names_every_unreadable_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_CK", raising=False)
    monkeypatch.delenv("X_AT", raising=False)
    monkeypatch.setenv("X_CS", "cs")
    monkeypatch.setenv("X_ATS", "ats")
    settings, _ = read(ENV_KEYS)
    with pytest.raises(ConfigError) as caught:
        build_x_client(settings)
    assert [p.split(":")[0] for p in caught.value.problems] == ["x.consumer_key", "x.access_token"]
    assert "cs" not in str(caught.value)


def test_find_post_matches_the_expanded_link_not_the_tco_text(fake: FakeX) -> None:
    x = XPublisher(build_client(fake))
    bot = fake.user("listbridge")
    link = "https://lists.example.org/archives/msg/q1"
    fake.add_post(bot, "something else https://lists.example.org/archives/msg/q10",
                  created_at=T0 - timedelta(minutes=3))
    ours = fake.add_post(bot, f"Question one {link}", created_at=T0 - timedelta(minutes=2))
    assert link not in ours.text  # X shows a t.co link
    assert x.find_post(link, T0 - timedelta(hours=1)) == ours.id
    assert x.find_post(link, T0 - timedelta(minutes=1)) is None  # older than `since`
    assert x.find_post("https://lists.example.org/archives/msg/q2", T0 - timedelta(hours=1)) is None


def test_find_post_returns_the_oldest_when_a_link_was_posted_twice(fake: FakeX) -> None:
    bot, link = fake.user("listbridge"), "https://lists.example.org/m/1"
    first = fake.add_post(bot, f"one {link}", created_at=T0 - timedelta(minutes=9))
    fake.add_post(bot, f"two {link}", created_at=T0 - timedelta(minutes=8))
    assert XPublisher(build_client(fake)).find_post(link, T0 - timedelta(hours=1)) == first.id


def test_check_auth_raises_auth_error_for_refused_credentials(fake: FakeX) -> None:
    with pytest.raises(AuthError):
        XPublisher(build_client(fake, token="wrong")).check_auth()


def test_same_link_tolerates_re_encoding_case_of_host_and_trailing_slash() -> None:
    assert same_link("https://Lists.Example.org/d/msgid/g/a%40b/", "https://lists.example.org/d/msgid/g/a@b")
    assert not same_link("https://lists.example.org/m/1", "https://lists.example.org/m/12")
    assert not same_link("https://lists.example.org/m?id=1", "https://lists.example.org/m?id=2")


def build_client(fake: FakeX, token: str = "bot-token") -> XClient:
    return XClient(api_base_url=fake.base_url, consumer_key="ck", consumer_secret="cs",
                   access_token=token, access_token_secret="ats", timeout=2.0)
