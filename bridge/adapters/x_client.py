"""X (API v2) adapter over tweepy: X's JSON to our types, X's failures to our errors; no rules."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog
import tweepy
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from bridge.endpoints import http_refused, is_loopback
from bridge.errors import (
    AuthError,
    ConfigError,
    DuplicatePost,
    PermanentError,
    RateLimited,
    TransientError,
    Uncertain,
    transient,
)
from bridge.model import XPost

TWEEPY_HOST = "https://api.twitter.com"  # tweepy 4.17 hard-codes this host
MAX_PAGES = 5  # bound on pages read per call (100 posts each)
_POST_FIELDS = [
    "author_id", "conversation_id", "created_at", "entities", "in_reply_to_user_id",
    "referenced_tweets",
]
_USER_FIELDS = ["created_at", "name", "username"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class XUser:
    id: str
    username: str
    name: str
    created_at: datetime | None


class _BaseUrlAdapter(HTTPAdapter):
    """Sends tweepy's requests to `base` instead of api.twitter.com, always with a timeout."""

    def __init__(self, base: str | None, timeout: float) -> None:
        super().__init__()  # default max_retries=0: nothing is retried at this level
        self._base = base
        self._timeout = timeout

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False,
        timeout: float | tuple[float, float] | None = None, verify: bool | str = True,
        cert: Any = None, proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        if self._base and url.startswith(TWEEPY_HOST):
            request.url = self._base + url[len(TWEEPY_HOST):]
        if timeout is None:
            timeout = self._timeout
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                            proxies=proxies)


class XClient:
    """One X account, authenticated by OAuth 1.0a user keys or an OAuth 2.0 user token."""

    def __init__(
        self, *, api_base_url: str = TWEEPY_HOST, consumer_key: str | None = None,
        consumer_secret: str | None = None, access_token: str | None = None,
        access_token_secret: str | None = None, oauth2_user_token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        oauth1 = (consumer_key, consumer_secret, access_token, access_token_secret)
        if oauth2_user_token and any(oauth1):
            raise ConfigError(["x: give either the OAuth 1.0a keys or oauth2_user_token, not both"])
        if oauth2_user_token:
            self._client = tweepy.Client(bearer_token=oauth2_user_token, return_type=dict)
        elif all(oauth1):
            self._client = tweepy.Client(
                consumer_key=consumer_key, consumer_secret=consumer_secret,
                access_token=access_token, access_token_secret=access_token_secret,
                return_type=dict)
        else:
            raise ConfigError(["x: need consumer_key, consumer_secret, access_token and "
                               "access_token_secret, or oauth2_user_token"])
        self._user_auth = not oauth2_user_token  # tweepy: True = sign with OAuth 1.0a
        base = _check_base_url(api_base_url, oauth1=self._user_auth)
        session = self._client.session
        session.trust_env = False  # no proxies or .netrc from the environment
        session.mount(TWEEPY_HOST + "/", _BaseUrlAdapter(base, timeout))
        # tweepy logs request headers (a bearer token included) at DEBUG: never let that out.
        logging.getLogger("tweepy.client").setLevel(logging.INFO)

    def account_id(self) -> str:
        return self.me().id

    def me(self) -> XUser:
        body = self._call("get_me", lambda: self._client.get_me(
            user_fields=_USER_FIELDS, user_auth=self._user_auth))
        data = body.get("data") or {}
        if not data.get("id"):
            raise PermanentError("X get_me: the answer has no user")
        return XUser(str(data["id"]), str(data.get("username", "")), str(data.get("name", "")),
                     _parse_time(data.get("created_at")))

    def create_post(self, text: str) -> str:
        body = self._call("create_post", lambda: self._client.create_tweet(
            text=text, user_auth=self._user_auth), posting=True)
        post_id = (body.get("data") or {}).get("id")
        if not post_id:
            raise Uncertain("X create_post: the answer has no post id")
        return str(post_id)

    def recent_own_posts(
        self, user_id: str, since: datetime | None = None, max_results: int = 100
    ) -> list[XPost]:
        """This account's posts (newest `max_results`, since `since`), oldest first."""
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        page_size = min(100, max(5, max_results))

        def fetch(token: str | None) -> Any:
            return self._client.get_users_tweets(
                user_id, start_time=since, max_results=page_size, **self._page_args(token))

        posts = self._collect("recent_own_posts", fetch, max_results)
        return posts[-max_results:] if max_results > 0 else []

    def mentions(self, user_id: str, since_id: str | None) -> list[XPost]:
        """Posts mentioning the account with an id above `since_id`, oldest first."""
        def fetch(token: str | None) -> Any:
            return self._client.get_users_mentions(
                user_id, since_id=since_id, max_results=100, **self._page_args(token))

        return self._collect("mentions", fetch)

    def search_conversation(self, conversation_id: str, since_id: str | None) -> list[XPost]:
        """Recent (7-day) posts in a conversation with an id above `since_id`, oldest first."""
        if not conversation_id.isdigit():
            raise ValueError("conversation_id must be a numeric post id")

        def fetch(token: str | None) -> Any:
            return self._client.search_recent_tweets(
                f"conversation_id:{conversation_id}", since_id=since_id, max_results=100,
                **self._page_args(token, name="next_token"))

        return self._collect("search_conversation", fetch)

    def _page_args(self, token: str | None, name: str = "pagination_token") -> dict[str, Any]:
        args: dict[str, Any] = {
            "tweet_fields": _POST_FIELDS, "expansions": ["author_id"],
            "user_fields": _USER_FIELDS, "user_auth": self._user_auth,
        }
        if token:
            args[name] = token
        return args

    def _collect(self, operation: str, fetch: Callable[[str | None], Any],
                 limit: int | None = None) -> list[XPost]:
        posts: list[XPost] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            body = self._call(operation, functools.partial(fetch, token))
            posts.extend(parse_posts(body))
            token = (body.get("meta") or {}).get("next_token")
            if not token or (limit is not None and len(posts) >= limit):
                break
        else:
            if token:
                log.warning("x_pages_truncated", operation=operation, pages=MAX_PAGES,
                            posts=len(posts))
        return sorted(posts, key=lambda p: int(p.id) if p.id.isdigit() else 0)

    @staticmethod
    def _call(operation: str, fn: Callable[[], Any], *, posting: bool = False) -> dict[str, Any]:
        try:
            body = fn()
        except tweepy.HTTPException as exc:
            raise _map_http_error(operation, exc, posting=posting) from None
        except requests.RequestException as exc:
            raise _map_network_error(operation, exc, posting=posting) from None
        except (ValueError, KeyError, TypeError) as exc:  # tweepy choking on a malformed answer
            raise transient(f"X {operation}: malformed answer ({type(exc).__name__})",
                                  ambiguous=posting) from None
        if not isinstance(body, dict):
            raise transient(f"X {operation}: unexpected answer", ambiguous=posting)
        return body


def _check_base_url(url: str, *, oauth1: bool) -> str | None:
    """None when it is tweepy's own host. Plain http only to loopback. OAuth 1.0a signs the
    api.twitter.com URL, so with it another real host would refuse every signature."""
    url = url.rstrip("/")
    if url == TWEEPY_HOST:
        return None
    parts = urlsplit(url)
    loopback = is_loopback(parts.hostname or "")
    if http_refused(url):
        raise ConfigError([f"x.api_base_url: must be https (http only on loopback), got {url!r}"])
    if oauth1 and not loopback:
        raise ConfigError([f"x.api_base_url: {url!r} needs oauth2_user_token (OAuth 1.0a "
                           f"signatures cover the {TWEEPY_HOST} URL)"])
    return url


def _map_http_error(operation: str, exc: tweepy.HTTPException, *, posting: bool) -> Exception:
    response = exc.response
    status = int(getattr(response, "status_code", 0))
    detail = _problem_detail(response)
    message = f"X {operation}: HTTP {status} {detail}".rstrip()
    if status == 429:
        return RateLimited(message, reset_at=_reset_at(response.headers))
    if status == 403 and "duplicate content" in detail.lower():
        return DuplicatePost(message)
    if status in (401, 403):
        return AuthError(message)
    if status >= 500:
        return transient(message, ambiguous=posting)
    return PermanentError(message)


def _map_network_error(
    operation: str, exc: requests.RequestException, *, posting: bool
) -> TransientError:
    # Only a failed connect proves the request never reached X; anything later may have posted.
    reason = exc.args[0] if exc.args else None
    never_sent = isinstance(exc, requests.ConnectTimeout) or isinstance(
        getattr(reason, "reason", reason), NewConnectionError)
    return transient(f"X {operation}: {type(exc).__name__}",
                           ambiguous=posting and not never_sent)


def _problem_detail(response: Any) -> str:
    """X's problem text (detail/title, or errors[].message), cut short; never headers."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k]) for k in ("title", "detail") if body.get(k)]
    parts += [str(e.get("message")) for e in body.get("errors") or [] if isinstance(e, dict)
              and e.get("message")]
    return ": ".join(parts)[:300]


def _reset_at(headers: Mapping[str, str]) -> datetime | None:
    """The 15-minute window's reset, or a spent 24-hour window's reset when that is later."""
    candidates = [headers.get("x-rate-limit-reset")]
    for prefix in ("x-user-limit-24hour", "x-app-limit-24hour"):
        if headers.get(f"{prefix}-remaining") == "0":
            candidates.append(headers.get(f"{prefix}-reset"))
    epochs = [int(c) for c in candidates if c and c.strip().isdigit()]
    return datetime.fromtimestamp(max(epochs), UTC) if epochs else None


def parse_posts(body: Mapping[str, Any]) -> list[XPost]:
    """X's list answer (data + includes.users) as XPosts; tolerant of missing or renamed fields."""
    includes = body.get("includes") or {}
    users = {u.get("id"): u for u in includes.get("users") or [] if isinstance(u, dict)}
    return [_parse_post(item, users) for item in body.get("data") or []
            if isinstance(item, dict) and item.get("id")]


def _parse_post(item: Mapping[str, Any], users: Mapping[Any, Mapping[str, Any]]) -> XPost:
    author = users.get(item.get("author_id")) or {}
    refs = item.get("referenced_tweets") or item.get("referenced_posts") or []
    urls = (item.get("entities") or {}).get("urls") or []
    return XPost(
        id=str(item["id"]),
        text=str(item.get("text", "")),
        author_id=_opt_str(item.get("author_id")),
        author_username=_opt_str(author.get("username")),
        author_name=_opt_str(author.get("name")),
        author_created_at=_parse_time(author.get("created_at")),
        conversation_id=_opt_str(item.get("conversation_id")),
        in_reply_to_user_id=_opt_str(item.get("in_reply_to_user_id")),
        referenced=tuple((str(r["type"]), str(r["id"])) for r in refs
                         if isinstance(r, dict) and r.get("type") and r.get("id")),
        created_at=_parse_time(item.get("created_at")),
        expanded_urls=tuple(str(u["expanded_url"]) for u in urls
                            if isinstance(u, dict) and u.get("expanded_url")),
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
