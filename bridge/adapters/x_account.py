"""The X account as a Publisher: [x] settings, building the XClient, finding our posts by link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

import structlog

from bridge.adapters.x_client import TWEEPY_HOST, XClient, XUser
from bridge.config.reader import Section
from bridge.config.secrets import SecretError, SecretRef
from bridge.endpoints import http_refused
from bridge.errors import ConfigError

OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
FIND_LIMIT = 300  # own posts read per lookup (X bills reads; caps keep us far below this)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class XSettings:
    """[x]: the account the bridge posts as. Secrets are references, resolved when building."""

    api_base_url: str = TWEEPY_HOST
    auth: str = "oauth1"  # oauth1 (four keys) | oauth2 (a user-context token)
    consumer_key: SecretRef | None = None
    consumer_secret: SecretRef | None = None
    access_token: SecretRef | None = None
    access_token_secret: SecretRef | None = None
    oauth2_user_token: SecretRef | None = None
    timeout: timedelta = timedelta(seconds=30)


def read_x(sec: Section) -> XSettings:
    auth = sec.string("auth", "oauth1", choices=("oauth1", "oauth2"))
    oauth1 = auth == "oauth1"
    keys = {name: sec.secret(name, required=oauth1) for name in OAUTH1_KEYS}
    token = sec.secret("oauth2_user_token", required=not oauth1)
    if oauth1 and "oauth2_user_token" in sec.data:
        sec.problems.append(f"{sec.key('oauth2_user_token')}: only with auth = \"oauth2\"")
    if not oauth1 and any(name in sec.data for name in OAUTH1_KEYS):
        sec.problems.append(f"{sec.path}: the OAuth 1.0a keys are only for auth = \"oauth1\"")
    timeout = sec.duration("timeout", "30s")
    if not timedelta(seconds=1) <= timeout <= timedelta(minutes=5):
        sec.problems.append(f"{sec.key('timeout')}: must be between 1s and 5m")
    base = sec.string("api_base_url", TWEEPY_HOST).rstrip("/")
    _check_base_url(base, sec)
    sec.finish()
    return XSettings(api_base_url=base, auth=auth, oauth2_user_token=token, timeout=timeout,
                     **keys)


def _check_base_url(url: str, sec: Section) -> None:
    if http_refused(url):
        sec.problems.append(f"{sec.key('api_base_url')}: must be https (http only on loopback)")


def build_x_client(settings: XSettings) -> XClient:
    """The XClient, with every secret read now; a missing secret is a ConfigError."""
    names = OAUTH1_KEYS if settings.auth == "oauth1" else ("oauth2_user_token",)
    values: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        ref: SecretRef | None = getattr(settings, name)
        if ref is None:
            problems.append(f"x.{name}: required")
            continue
        try:
            values[name] = ref.resolve()
        except SecretError as exc:
            problems.append(f"x.{name}: {exc}")
    if problems:
        raise ConfigError(problems)
    return XClient(api_base_url=settings.api_base_url, timeout=settings.timeout.total_seconds(),
                   **values)


class XPublisher:
    """Publisher over XClient; the account (GET /2/users/me) is asked once and remembered."""

    def __init__(self, client: XClient) -> None:
        self._client = client
        self._me: XUser | None = None

    def publish(self, text: str) -> str:
        return self._client.create_post(text)

    def find_post(self, link: str, since: datetime) -> str | None:
        """Our post whose expanded link (not the t.co text) is `link`; the oldest if several."""
        if self._me is None:
            self._me = self._client.me()
        posts = self._client.recent_own_posts(self._me.id, since=since, max_results=FIND_LIMIT)
        matches = [p.id for p in posts if any(same_link(u, link) for u in p.expanded_urls)]
        if len(matches) > 1:
            log.warning("post_link_found_twice", link=link, post_ids=matches)
        return matches[0] if matches else None

    def check_auth(self) -> str:
        self._me = self._client.me()
        return self._me.username


def same_link(a: str, b: str) -> bool:
    """Equal as links: X may re-encode the URL it expands; scheme and host are case-blind."""
    return _link_key(a) == _link_key(b)


def _link_key(url: str) -> tuple[str, str, str, str]:
    parts = urlsplit(unquote(url.strip()))
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query)
