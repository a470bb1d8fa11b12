"""Mastodon adapter over Mastodon.py: statuses to our types, Mastodon's failures to our errors.

Exactly once: each question's status carries an Idempotency-Key derived from the question and
the network (the server returns the first status for a repeated key within an hour), and after
any doubt the account's own statuses are searched for the thread link.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonServiceUnavailableError,
    MastodonUnauthorizedError,
)

from bridge.adapters.network import (
    NotSent,
    Outgoing,
    RateLimited,
    Replier,
    Reply,
    ReplyBatch,
    TextRules,
    Uncertain,
    same_link,
)
from bridge.errors import AuthError, PermanentError

NAME = "mastodon"
MAX_PAGES = 5  # pages of 40 read per call: a bound, never a loop over the whole history
PAGE = 40
DEFAULT_LIMIT, DEFAULT_URL_WEIGHT = 500, 23
IDEMPOTENCY_SAFE = timedelta(minutes=45)  # the server keeps a key 3600 s
_HREF = re.compile(r"""href=["']([^"']+)["']""")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_T = TypeVar("_T")

log = structlog.get_logger(__name__)


class MastodonAccount:
    """The bridge's Mastodon account as a Network (see bridge.adapters.network)."""

    name = NAME

    def __init__(self, api: Mastodon, visibility: str = "public", language: str = "en") -> None:
        self._api = api
        self._visibility = visibility
        self._language = language
        self._rules: TextRules | None = None
        self._me: Any = None
        host = urlsplit(api.api_base_url or "").hostname or ""
        self._host = host

    def text_rules(self) -> TextRules:
        """The instance's own limit and URL weight (GET /api/v2/instance), asked once."""
        if self._rules is None:
            instance = self._call(self._api.instance_v2)
            statuses = _get(_get(instance, "configuration"), "statuses")
            limit = int(_get(statuses, "max_characters") or DEFAULT_LIMIT)
            weight = int(_get(statuses, "characters_reserved_per_url") or DEFAULT_URL_WEIGHT)
            self._rules = TextRules(NAME, limit, weight)
        return self._rules

    def publish(self, post: Outgoing) -> str:
        status = self._call(self._api.status_post, post.text, visibility=self._visibility,
                            language=self._language, idempotency_key=post.key)
        return str(status["id"])

    def resend_is_safe(self, attempted_at: datetime, now: datetime) -> bool:
        """Within the hour the server keeps an Idempotency-Key (with a margin for clock skew)."""
        return now - attempted_at < IDEMPOTENCY_SAFE

    def find_post(self, post: Outgoing, since: datetime) -> str | None:
        """Our status carrying the thread link (oldest first if several), posted since `since`."""
        me = self._account()
        found: list[str] = []
        for status in self._pages(lambda: self._api.account_statuses(
                me["id"], exclude_reblogs=True, limit=PAGE)):
            if _when(status["created_at"]) < since:
                break
            if any(same_link(h, post.link) for h in _links(status)):
                found.append(str(status["id"]))
        if len(found) > 1:
            log.warning("post_link_found_twice", network=NAME, link=post.link, post_ids=found)
        return found[-1] if found else None

    def replies_since(self, cursor: str | None, posts: Sequence[str]) -> ReplyBatch:
        """Mentions since `cursor` that answer one of `posts`, plus each post's descendants."""
        ours, me = set(posts), self._account()
        seen: dict[str, Reply] = {}
        newest, reads = cursor, 0
        for note in self._pages(lambda: self._api.notifications(
                types=["mention"], since_id=cursor, limit=PAGE)):
            if cursor is not None and int(note["id"]) <= int(cursor):
                break
            reads += 1
            newest = _larger(newest, str(note["id"]))
            status = note.get("status")
            if status and status.get("in_reply_to_id") is not None:
                self._keep(status, str(status["in_reply_to_id"]), ours, me, seen)
        for post_id in posts:
            context = self._call(self._api.status_context, post_id)
            for status in context["descendants"]:
                reads += 1
                self._keep(status, post_id, ours | {post_id}, me, seen)
        return ReplyBatch(tuple(seen.values()), newest, reads)

    def check_auth(self) -> str:
        self._me = None
        return str(self._account()["acct"])

    # -- translation ----------------------------------------------------------------------
    def _keep(self, status: Any, answers: str, ours: set[str], me: Any,
              seen: dict[str, Reply]) -> None:
        if str(status["account"]["id"]) == str(me["id"]) or status.get("reblog"):
            return
        if answers not in ours:
            return
        seen.setdefault(str(status["id"]), self._reply(status, answers, me))

    def _reply(self, status: Any, post_id: str, me: Any) -> Reply:
        account = status["account"]
        acct = str(account["acct"])
        home = urlsplit(str(account.get("url") or "")).hostname or self._host
        handle = acct if "@" in acct else f"{acct}@{home}"
        author = Replier(str(account["id"]), handle, str(account.get("display_name") or ""),
                         _when(account["created_at"]) if account.get("created_at") else None)
        text = strip_mentions(status_text(str(status["content"])), str(me["acct"]))
        links = tuple(h for h in _links(status) if not _is_mention(h, status))
        return Reply(str(status["id"]), post_id, author, text, str(status.get("url") or status["uri"]),
                     _when(status["created_at"]), links)

    def _account(self) -> Any:
        if self._me is None:
            self._me = self._call(self._api.account_verify_credentials)
        return self._me

    def _pages(self, first: Callable[[], Any]) -> Iterator[Any]:
        """The items of up to MAX_PAGES pages, following the Link header (Mastodon.py's fetch_next)."""
        page = self._call(first)
        for _ in range(MAX_PAGES):
            if not page:
                return
            yield from page
            page = self._call(self._api.fetch_next, page)

    def _call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        try:
            return fn(*args, **kwargs)
        except MastodonError as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: MastodonError) -> Exception:
        text = f"mastodon: {exc}"
        if isinstance(exc, MastodonRatelimitError):
            reset = getattr(self._api, "ratelimit_reset", None)
            when = datetime.fromtimestamp(reset, UTC) if reset else None
            return RateLimited(text, when)
        if isinstance(exc, MastodonUnauthorizedError) or _status(exc) in (401, 403):
            return AuthError(text)
        if isinstance(exc, MastodonServiceUnavailableError):
            return NotSent(text)
        if isinstance(exc, MastodonServerError):
            return Uncertain(text)
        if isinstance(exc, MastodonNetworkError):
            return NotSent(text) if "refused" in str(exc).lower() else Uncertain(text)
        if isinstance(exc, MastodonNotFoundError | MastodonAPIError):
            return PermanentError(text)
        return Uncertain(text)


def status_text(content: str) -> str:
    """A status's HTML as plain text: paragraphs and breaks become newlines, entities undone."""
    text = _TAG.sub("", _BREAK.sub("\n", content))
    return html.unescape(text).strip()


def strip_mentions(text: str, own: str) -> str:
    """Drop the run of @mentions a reply starts with when it names our account."""
    words = text.split(" ")
    lead = 0
    while lead < len(words) and words[lead].startswith("@"):
        lead += 1
    if lead and any(w.lstrip("@").split("@")[0] == own.split("@")[0] for w in words[:lead]):
        return " ".join(words[lead:]).strip()
    return text


def _links(status: Any) -> list[str]:
    return [html.unescape(h) for h in _HREF.findall(str(status.get("content") or ""))]


def _is_mention(href: str, status: Any) -> bool:
    return any(href == m.get("url") for m in status.get("mentions") or ())


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _larger(a: str | None, b: str) -> str:
    return a if a is not None and int(a) >= int(b) else b


def _status(exc: MastodonError) -> int | None:
    args = exc.args
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None
