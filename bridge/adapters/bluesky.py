"""Bluesky adapter over the atproto SDK: one kept session, posts at a deterministic record key.

Exactly once: each question's post is created at a TID record key derived from the question and
its row's creation time, so a repeated create cannot make a second post (the PDS refuses an
existing rkey, with a 500); after any doubt the record at that key is read (getRecord) first.
The session is created once with an app password, kept in the state database and refreshed;
the PDS limits createSession per account (30 per 5 minutes, 300 per day).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx
import structlog
from atproto import Client
from atproto_client.client.session import SessionEvent
from atproto_client.exceptions import (
    BadRequestError,
    InvokeTimeoutError,
    LoginRequiredError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from bridge.adapters.network import (
    NotSent,
    Outgoing,
    RateLimited,
    Replier,
    Reply,
    ReplyBatch,
    TextRules,
    Uncertain,
)
from bridge.compose.richtext import SHORT_LINK_MAX, Facet, rich_text
from bridge.errors import AuthError, PermanentError

NAME = "bluesky"
POST = "app.bsky.feed.post"
MAX_GRAPHEMES = 300
MAX_PAGES = 5
PAGE = 50
MIN_SESSION_GAP = timedelta(minutes=10)  # never open sessions faster than this
_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_EXPIRED = {"ExpiredToken", "InvalidToken"}
_T = TypeVar("_T")

log = structlog.get_logger(__name__)


class SessionVault(Protocol):
    """Where the session lives between runs (the state database)."""

    def load(self) -> tuple[str, datetime] | None:
        """The exported session and when it was created; None before the first."""
        ...

    def save(self, session: str, created_at: datetime | None) -> None:
        """Keep `session`; created_at is set when it is new, None when it was refreshed."""
        ...


@dataclass(frozen=True, slots=True)
class BlueskyLogin:
    """The account's identifier (handle or DID) and a reader of its app password."""

    identifier: str
    app_password: Callable[[], str]


def make_client(service: str, timeout: float) -> Client:
    return Client(service, request=Request(timeout=timeout, trust_env=False))


def tid(created_at: datetime, seed: str) -> str:
    """A record key in TID form: microseconds since the epoch and a 10-bit clock id from `seed`."""
    micros = int(created_at.timestamp() * 1_000_000)
    clock = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:2], "big") & 0x3FF
    value = (micros << 10) | clock
    return "".join(_TID_CHARS[(value >> (5 * (12 - i))) & 31] for i in range(13))


class BlueskyAccount:
    """The bridge's Bluesky account as a Network (see bridge.adapters.network)."""

    name = NAME

    def __init__(self, client: Client, login: BlueskyLogin, vault: SessionVault,
                 language: str = "en", link_card: bool = False,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._client = client
        self._login = login
        self._vault = vault
        self._language = language
        self._card = link_card
        self._clock = clock
        self._ready = False
        self._created_at: datetime | None = None
        client.on_session_change(self._keep)

    def text_rules(self) -> TextRules:
        return TextRules(NAME, MAX_GRAPHEMES, SHORT_LINK_MAX)

    def publish(self, post: Outgoing) -> str:
        if post.created_at is None:
            raise ValueError("a Bluesky post needs its row's creation time (the record key)")
        rkey = tid(post.created_at, post.key)
        record = self._record(post)
        response = self._call(lambda: self._client.com.atproto.repo.create_record(
            {"repo": self._did(), "collection": POST, "rkey": rkey, "record": record}))
        return str(response.uri)

    def find_post(self, post: Outgoing, since: datetime) -> str | None:
        """Our post at the question's record key, if the PDS has it (getRecord)."""
        if post.created_at is None:
            return None
        rkey = tid(post.created_at, post.key)
        try:
            found = self._call(lambda: self._client.com.atproto.repo.get_record(
                {"repo": self._did(), "collection": POST, "rkey": rkey}))
        except PermanentError as exc:
            if "RecordNotFound" in str(exc) or "Could not locate record" in str(exc):
                return None
            raise
        return str(found.uri)

    def resend_is_safe(self, attempted_at: datetime, now: datetime) -> bool:
        """Always: a create at the question's record key cannot make a second post."""
        return True

    def replies_since(self, cursor: str | None, posts: Sequence[str]) -> ReplyBatch:
        """Replies and mentions from the notifications since `cursor` (their indexedAt), plus each
        post's thread; only those whose thread root is one of `posts`."""
        ours, reads = set(posts), 0
        seen: dict[str, Reply] = {}
        newest = cursor
        page_cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": PAGE}
            if page_cursor:
                params["cursor"] = page_cursor
            page: Any = self._call(functools.partial(
                self._client.app.bsky.notification.list_notifications, params))
            fresh = [n for n in page.notifications if cursor is None or n.indexed_at > cursor]
            for note in fresh:
                reads += 1
                newest = max(newest or "", note.indexed_at)
                if note.reason in ("reply", "mention"):
                    self._keep_post(note.uri, note.author, note.record, note.indexed_at, ours, seen)
            page_cursor = page.cursor
            if len(fresh) < len(page.notifications) or not page_cursor:
                break
        for uri in posts:
            reads += self._walk_thread(uri, seen)
        return ReplyBatch(tuple(seen.values()), newest, reads)

    def check_auth(self) -> str:
        """The kept session (refreshed if needed) works: com.atproto.server.getSession."""
        self._ready = False
        found = self._call(lambda: self._client.com.atproto.server.get_session())
        return str(found.handle)

    # -- posts -----------------------------------------------------------------------------
    def _record(self, post: Outgoing) -> dict[str, Any]:
        rich = rich_text(post.text, post.link)
        record: dict[str, Any] = {
            "$type": POST, "text": rich.text, "createdAt": _iso(self._clock()),
            "langs": [self._language], "facets": [_facet(f) for f in rich.facets]}
        if self._card:
            record["embed"] = {"$type": "app.bsky.embed.external", "external": {
                "uri": post.link, "title": post.title or post.link, "description": ""}}
        return record

    def _walk_thread(self, uri: str, seen: dict[str, Reply]) -> int:
        thread = self._call(lambda: self._client.app.bsky.feed.get_post_thread(
            {"uri": uri, "depth": 10, "parentHeight": 0})).thread
        reads, stack = 0, list(getattr(thread, "replies", None) or [])
        while stack and reads < 1000:  # bounded: a thread's replies, depth 10
            node = stack.pop()
            post = getattr(node, "post", None)
            if post is None:
                continue
            reads += 1
            self._keep_post(post.uri, post.author, post.record, post.indexed_at, {uri}, seen)
            stack.extend(getattr(node, "replies", None) or [])
        return reads

    def _keep_post(self, uri: str, author: Any, record: Any, indexed_at: str, ours: set[str],
                   seen: dict[str, Reply]) -> None:
        reply_ref = getattr(record, "reply", None)
        root = getattr(getattr(reply_ref, "root", None), "uri", None)
        if root not in ours or author.did == self._did() or uri in seen:
            return
        name = author.display_name or ""
        rkey = uri.rsplit("/", 1)[-1]
        seen[uri] = Reply(
            uri, str(root), Replier(author.did, author.handle, name, _maybe_when(author)),
            str(getattr(record, "text", "")), f"https://bsky.app/profile/{author.handle}/post/{rkey}",
            _when(getattr(record, "created_at", None) or indexed_at), _links(record))

    # -- the session ---------------------------------------------------------------------------
    def _did(self) -> str:
        self._ensure()
        session = self._client._session
        assert session is not None
        return str(session.did)

    def _handle(self) -> str:
        session = self._client._session
        return str(session.handle) if session is not None else ""

    def _ensure(self) -> None:
        if self._ready:
            return
        stored = self._vault.load()
        if stored is not None:
            self._created_at = stored[1]
            self._client.login(session_string=stored[0], fetch_bsky_profile=False)
        else:
            self._create()
        self._ready = True

    def _create(self) -> None:
        now = self._clock()
        if self._created_at is not None and now - self._created_at < MIN_SESSION_GAP:
            raise NotSent("bluesky: the session was refused again; not opening another yet")
        self._created_at = now
        try:
            self._client.login(self._login.identifier, self._login.app_password(),
                               fetch_bsky_profile=False)
        except AtProtocolError as exc:
            raise _translate(exc) from exc
        log.info("session_created", network=NAME, handle=self._handle())

    def _keep(self, event: SessionEvent, session: Any) -> None:
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            created = self._clock() if event == SessionEvent.CREATE else None
            self._vault.save(self._client.export_session_string(), created)

    def _renew(self) -> None:
        """The server says the access token expired: refresh it; a dead refresh token opens one
        new session (the SDK only refreshes from the token's own expiry time)."""
        try:
            self._client._refresh_and_set_session()
        except (UnauthorizedError, BadRequestError, LoginRequiredError):
            self._create()

    def _call(self, fn: Callable[[], _T]) -> _T:
        self._ensure()
        for attempt in range(2):
            try:
                return fn()
            except (UnauthorizedError, BadRequestError) as exc:
                if attempt == 0 and _error_name(exc) in _EXPIRED:
                    self._renew()
                    continue
                raise _translate(exc) from exc
            except (AtProtocolError, httpx.HTTPError) as exc:
                raise _translate(exc) from exc
        raise AssertionError("unreachable")


def _translate(exc: Exception) -> Exception:
    text = f"bluesky: {exc}"
    if isinstance(exc, RateLimitExceededError):
        return RateLimited(text, exc.reset_at)
    if isinstance(exc, UnauthorizedError):
        return AuthError(text)
    if isinstance(exc, BadRequestError):
        return PermanentError(f"{text} {_error_name(exc)}")
    if isinstance(exc, InvokeTimeoutError):
        return Uncertain(text)
    if isinstance(exc, NetworkError):
        cause = exc.__cause__
        return NotSent(text) if isinstance(cause, httpx.ConnectError) else Uncertain(text)
    if isinstance(exc, httpx.ConnectError):
        return NotSent(text)
    if isinstance(exc, RequestErrorBase) and exc.response is not None:
        status = exc.response.status_code
        return Uncertain(text) if status >= 500 else PermanentError(text)
    return Uncertain(text)  # a dropped connection (httpx.RemoteProtocolError) and the unknown


def _error_name(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    return str(getattr(content, "error", "") or "")


def _facet(f: Facet) -> dict[str, Any]:
    feature = ({"$type": "app.bsky.richtext.facet#link", "uri": f.value} if f.kind == "link"
               else {"$type": "app.bsky.richtext.facet#tag", "tag": f.value})
    return {"index": {"byteStart": f.byte_start, "byteEnd": f.byte_end}, "features": [feature]}


def _links(record: Any) -> tuple[str, ...]:
    found = []
    for facet in getattr(record, "facets", None) or ():
        for feature in facet.features:
            uri = getattr(feature, "uri", None)
            if uri:
                found.append(str(uri))
    return tuple(found)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _maybe_when(author: Any) -> datetime | None:
    """The account's creation time when the AppView says it (profileViewBasic.createdAt)."""
    value = getattr(author, "created_at", None)
    return _when(value) if value else None


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
