"""A fake X API v2 over real HTTP on 127.0.0.1, shaped after X's OpenAPI spec (v2.167), for tests.

It speaks just enough of X for the bridge: create a post, who am I, mentions, a user's posts and
recent search by conversation. Posts get increasing numeric ids, t.co links with expanded_url
entities, conversation ids and reply references. Tests inject faults (429 with X's rate-limit
headers, 5xx, a post committed but never answered) and inspect every request it received.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CREATE = "POST /2/tweets"
ME = "GET /2/users/me"
MENTIONS = "GET /2/users/:id/mentions"
USER_POSTS = "GET /2/users/:id/tweets"
SEARCH = "GET /2/tweets/search/recent"
ENDPOINTS = (CREATE, ME, MENTIONS, USER_POSTS, SEARCH)

DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
PROBLEM_BASE = "https://api.x.com/2/problems/"
_ROUTES = (
    ("POST", re.compile(r"/2/tweets"), CREATE),
    ("GET", re.compile(r"/2/users/me"), ME),
    ("GET", re.compile(r"/2/users/(\d{1,19})/mentions"), MENTIONS),
    ("GET", re.compile(r"/2/users/(\d{1,19})/tweets"), USER_POSTS),
    ("GET", re.compile(r"/2/tweets/search/recent"), SEARCH),
)
# Page size bounds from the spec: mentions/user posts 5..100, recent search 10..100.
_PAGE_BOUNDS = {MENTIONS: (5, 100), USER_POSTS: (5, 100), SEARCH: (10, 100)}
_POST_FIELDS = frozenset({
    "attachments", "author_id", "conversation_id", "created_at", "edit_history_tweet_ids",
    "edit_history_post_ids", "entities", "id", "in_reply_to_user_id", "lang", "public_metrics",
    "referenced_tweets", "referenced_posts", "reply_settings", "source", "text",
})
_USER_FIELDS = frozenset({
    "created_at", "description", "id", "name", "protected", "url", "username", "verified",
})
_EXPANSIONS = frozenset({"author_id", "in_reply_to_user_id"})
_URL = re.compile(r"https?://[^\s]+")
_MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")


class _Naming:
    """Which names the fake uses for fields that X renamed from "tweet" to "post"."""

    def __init__(self, naming: str) -> None:
        if naming not in ("tweets", "posts"):
            raise ValueError("naming must be 'tweets' (live API) or 'posts' (newer spec)")
        self.referenced = f"referenced_{naming}"
        self.edit_history = f"edit_history_{naming[:-1]}_ids"


@dataclass
class FakeUser:
    id: str
    username: str
    name: str
    created_at: datetime
    access_token: str | None = None  # OAuth 1.0a token that acts as this user
    user_token: str | None = None  # OAuth 2.0 user-context bearer token


@dataclass
class FakePost:
    id: str
    text: str  # as X stores it: every URL replaced by its t.co link
    author_id: str
    created_at: datetime
    conversation_id: str
    in_reply_to_user_id: str | None = None
    referenced: list[tuple[str, str]] = field(default_factory=list)  # (type, id)
    urls: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    source_text: str = ""  # the text as submitted, before t.co shortening

    @property
    def expanded_urls(self) -> list[str]:
        return [u["expanded_url"] for u in self.urls]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]


@dataclass
class _Fault:
    kind: str  # "status" | "drop"
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    reset_in: float | None = None  # x-rate-limit-reset this many seconds after the call is served


class FakeX:
    """The fake service. Use start()/stop() (or `with`); base_url is valid after start()."""

    def __init__(self, *, naming: str = "tweets", clock: Callable[[], datetime] | None = None):
        self.names = _Naming(naming)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._users: dict[str, FakeUser] = {}
        self._posts: dict[str, FakePost] = {}
        self._faults: dict[str, list[_Fault]] = {e: [] for e in ENDPOINTS}
        self._requests: list[RecordedRequest] = []
        self._next_id = 1_900_000_000_000_000_000
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.echo_auth = False  # a careless server: 401 bodies echo the Authorization header

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._released.set()  # wake any stalled "drop" response
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeX:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- test API: world state --------------------------------------------------------------
    def add_user(
        self, username: str, name: str, *, created_at: datetime | None = None,
        access_token: str | None = None, user_token: str | None = None,
    ) -> FakeUser:
        with self._lock:
            user = FakeUser(self._new_id(), username, name, created_at or self.clock(),
                            access_token, user_token)
            self._users[user.id] = user
        return user

    def add_post(
        self, author: FakeUser, text: str, *, created_at: datetime | None = None
    ) -> FakePost:
        """A standalone post by `author` (e.g. someone mentioning the bridge outside a thread)."""
        with self._lock:
            return self._store(author, text, created_at=created_at)

    def add_reply(
        self, to_post_id: str, author: FakeUser, text: str, *, created_at: datetime | None = None
    ) -> FakePost:
        """A reply by `author`; like X, its text starts with @ the parent's author."""
        with self._lock:
            parent = self._posts[to_post_id]
            parent_author = self._users[parent.author_id]
            if not text.startswith(f"@{parent_author.username}"):
                text = f"@{parent_author.username} {text}"
            return self._store(author, text, created_at=created_at, parent=parent)

    def user(self, username: str) -> FakeUser:
        with self._lock:
            return next(u for u in self._users.values() if u.username == username)

    def posts_by(self, user: FakeUser) -> list[FakePost]:
        with self._lock:
            return [p for p in self._posts.values() if p.author_id == user.id]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    # -- test API: faults -------------------------------------------------------------------
    def fail_next(self, endpoint: str, status: int, count: int = 1) -> None:
        """The next `count` calls to `endpoint` answer `status` with X's problem body."""
        self._add_fault(endpoint, count, _Fault("status", status))

    def rate_limit_next(
        self, endpoint: str, *, reset_at: int = 0, count: int = 1, limit: int = 100,
        user_24h_reset: int | None = None, reset_in: float | None = None,
    ) -> None:
        """The next `count` calls get 429 with x-rate-limit-* headers (epoch seconds); `reset_in`
        sets the reset that many seconds after the call is served instead of at `reset_at`."""
        headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": "0",
                   "x-rate-limit-reset": str(reset_at)}
        if user_24h_reset is not None:
            headers |= {"x-user-limit-24hour-limit": "17", "x-user-limit-24hour-remaining": "0",
                        "x-user-limit-24hour-reset": str(user_24h_reset)}
        self._add_fault(endpoint, count, _Fault("status", 429, headers, reset_in=reset_in))

    def drop_after_commit_next(self, count: int = 1, *, stall: float = 0.0) -> None:
        """The next `count` POST /2/tweets store the post, then close the connection unanswered
        (after stalling `stall` seconds, or until stop(): a client read timeout fires first)."""
        self._add_fault(CREATE, count, _Fault("drop", stall=stall))

    def _add_fault(self, endpoint: str, count: int, fault: _Fault) -> None:
        if endpoint not in self._faults:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {ENDPOINTS}")
        with self._lock:
            self._faults[endpoint].extend([fault] * count)

    # -- internals --------------------------------------------------------------------------
    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _store(
        self, author: FakeUser, text: str, *, created_at: datetime | None = None,
        parent: FakePost | None = None,
    ) -> FakePost:
        post_id = self._new_id()
        stored, urls = _shorten_urls(text, post_id)
        post = FakePost(
            id=post_id, text=stored, author_id=author.id, created_at=created_at or self.clock(),
            conversation_id=parent.conversation_id if parent else post_id,
            in_reply_to_user_id=parent.author_id if parent else None,
            referenced=[("replied_to", parent.id)] if parent else [], urls=urls,
            source_text=text,
        )
        post.mentions = self._find_mentions(stored)
        self._posts[post_id] = post
        return post

    def _find_mentions(self, text: str) -> list[dict[str, Any]]:
        by_name = {u.username.lower(): u for u in self._users.values()}
        found = []
        for m in _MENTION.finditer(text):
            user = by_name.get(m.group(1).lower())
            if user is not None:
                found.append({"start": m.start(), "end": m.end(), "username": user.username,
                              "id": user.id})
        return found

    def _take_fault(self, endpoint: str) -> _Fault | None:
        with self._lock:
            queue = self._faults[endpoint]
            return queue.pop(0) if queue else None

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _user_for(self, auth: str) -> FakeUser | None:
        """OAuth 1.0a (signature not verified) or an OAuth 2.0 user token; None = refused."""
        if auth.startswith("OAuth "):
            params = dict(re.findall(r'(\w+)="([^"]*)"', auth))
            if not params.get("oauth_consumer_key") or not params.get("oauth_signature"):
                return None
            return next((u for u in self._users.values()
                         if u.access_token and u.access_token == params.get("oauth_token")), None)
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ")
            return next((u for u in self._users.values() if u.user_token == token), None)
        return None


def _shorten_urls(text: str, post_id: str) -> tuple[str, list[dict[str, Any]]]:
    """Replace each URL with a t.co link, as X does; entities index the stored text."""
    out, urls, pos = [], [], 0
    for n, m in enumerate(_URL.finditer(text)):
        original = m.group(0).rstrip(".,;:!?)'\"")
        tco = "https://t.co/" + hashlib.sha1(f"{post_id}:{n}".encode()).hexdigest()[:10]
        out.append(text[pos:m.start()])
        start = sum(len(s) for s in out)
        out.append(tco)
        urls.append({"start": start, "end": start + len(tco), "url": tco, "expanded_url": original,
                     "display_url": original.split("://", 1)[1][:27]})
        pos = m.start() + len(original)
    out.append(text[pos:])
    return "".join(out), urls


# -- HTTP side ---------------------------------------------------------------------------------
class _HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _about_blank(status: int, title: str, detail: str | None = None) -> dict[str, Any]:
    """The body X really sends for 401/403/429 (type about:blank, not one of the spec's types)."""
    return {"title": title, "detail": detail or title, "type": "about:blank", "status": status}


def _invalid(detail: str, parameter: str | None = None) -> _HttpError:
    body: dict[str, Any] = {"type": PROBLEM_BASE + "invalid-request", "title": "Invalid Request",
                            "detail": detail, "status": 400}
    if parameter:
        body["parameter"] = parameter
    return _HttpError(400, body)


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return _about_blank(429, "Too Many Requests")
    if status >= 500:
        return {"type": PROBLEM_BASE + "internal-error", "title": "Internal Server Error",
                "detail": f"Service error {status}", "status": status}
    return _about_blank(status, "Forbidden" if status == 403 else "Error")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _csv(query: dict[str, str], name: str, allowed: frozenset[str]) -> set[str]:
    values = {v for v in query.get(name, "").split(",") if v}
    unknown = values - allowed
    if unknown:
        raise _invalid(f"The `{name}` query parameter value {sorted(unknown)} is not valid", name)
    return values


def _snowflake(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", value):
        raise _invalid(f"The `{name}` query parameter value [{value}] is not valid", name)
    return int(value)


def _instant(query: dict[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"The `{name}` query parameter value [{value}] is not valid", name) from None


class _Api:
    """Endpoint logic: plain functions of (fake, user, query, payload) -> (status, body)."""

    def __init__(self, fake: FakeX) -> None:
        self.fake = fake

    def create(self, user: FakeUser, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise _invalid("The request body must be a JSON object")
        text = payload.get("text")
        if not isinstance(text, str) or not text:
            raise _invalid("The `text` field is required and must be a non-empty string", "text")
        with self.fake._lock:
            if any(p.author_id == user.id and p.source_text == text
                   for p in self.fake._posts.values()):
                raise _HttpError(403, _about_blank(403, "Forbidden", DUPLICATE_DETAIL))
            post = self.fake._store(user, text)
        return {"data": {"id": post.id, "text": post.text, self.fake.names.edit_history: [post.id]}}

    def me(self, user: FakeUser, query: dict[str, str]) -> dict[str, Any]:
        return {"data": self.render_user(user, _csv(query, "user.fields", _USER_FIELDS))}

    def listing(self, endpoint: str, query: dict[str, str], match: Callable[[FakePost], bool],
                ) -> dict[str, Any]:
        fields = _csv(query, "tweet.fields", _POST_FIELDS)
        fields |= _csv(query, "post.fields", _POST_FIELDS)  # the newer spec's name
        expansions = _csv(query, "expansions", _EXPANSIONS)
        user_fields = _csv(query, "user.fields", _USER_FIELDS)
        low, high = _PAGE_BOUNDS[endpoint]
        size = int(query.get("max_results", "10"))
        if not low <= size <= high:
            raise _invalid(f"`max_results` must be between {low} and {high}", "max_results")
        since, until = _snowflake(query, "since_id"), _snowflake(query, "until_id")
        start, end = _instant(query, "start_time"), _instant(query, "end_time")
        token = query.get("pagination_token") or query.get("next_token")
        below = int(base64.b32hexdecode(token.upper()).decode()) if token else None
        with self.fake._lock:
            found = sorted((p for p in self.fake._posts.values() if match(p)
                            and (since is None or int(p.id) > since)
                            and (until is None or int(p.id) < until)
                            and (below is None or int(p.id) < below)
                            and (start is None or p.created_at >= start)
                            and (end is None or p.created_at < end)),
                           key=lambda p: int(p.id), reverse=True)
            page = found[:size]
            body: dict[str, Any] = {"meta": {"result_count": len(page)}}
            if page:
                body["data"] = [self.render_post(p, fields) for p in page]
                body["meta"] |= {"newest_id": page[0].id, "oldest_id": page[-1].id}
                users = self.expand_users(page, expansions, user_fields)
                if users:
                    body["includes"] = {"users": users}
            if len(found) > size:
                body["meta"]["next_token"] = base64.b32hexencode(page[-1].id.encode()).decode()
        return body

    def search_matcher(self, query: dict[str, str]) -> Callable[[FakePost], bool]:
        text = query.get("query", "")
        if not text or len(text) > 512:
            raise _invalid("`query` must be 1 to 512 characters", "query")
        horizon = self.fake.clock() - timedelta(days=7)
        users = {u.username.lower(): u.id for u in self.fake._users.values()}
        conversations, authors, words = set(), set(), []
        for term in text.split():
            op, _, value = term.partition(":")
            if op == "conversation_id" and value.isdigit():
                conversations.add(value)
            elif op == "from" and value:
                authors.add(users.get(value.lower(), "-"))
            elif value:
                raise _invalid(f"There were errors processing your request: unknown operator "
                               f"'{op}'", "query")
            else:
                words.append(term.lower())

        def match(p: FakePost) -> bool:
            return (p.created_at >= horizon
                    and all(p.conversation_id == c for c in conversations)
                    and all(p.author_id == a for a in authors)
                    and all(w in p.text.lower() for w in words))

        return match

    def render_post(self, post: FakePost, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": post.id, "text": post.text,
                               self.fake.names.edit_history: [post.id]}
        if "author_id" in fields:
            out["author_id"] = post.author_id
        if "conversation_id" in fields:
            out["conversation_id"] = post.conversation_id
        if "created_at" in fields:
            out["created_at"] = _iso(post.created_at)
        if "in_reply_to_user_id" in fields and post.in_reply_to_user_id:
            out["in_reply_to_user_id"] = post.in_reply_to_user_id
        if fields & {"referenced_tweets", "referenced_posts"} and post.referenced:
            out[self.fake.names.referenced] = [{"type": t, "id": i} for t, i in post.referenced]
        if "entities" in fields and (post.urls or post.mentions):
            out["entities"] = {k: v for k, v in
                               (("urls", post.urls), ("mentions", post.mentions)) if v}
        return out

    def render_user(self, user: FakeUser, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "created_at" in fields:
            out["created_at"] = _iso(user.created_at)
        return out

    def expand_users(self, page: list[FakePost], expansions: set[str], fields: set[str],
                     ) -> list[dict[str, Any]]:
        ids: list[str] = []
        for p in page:
            if "author_id" in expansions:
                ids.append(p.author_id)
            if "in_reply_to_user_id" in expansions and p.in_reply_to_user_id:
                ids.append(p.in_reply_to_user_id)
        unique = list(dict.fromkeys(i for i in ids if i in self.fake._users))
        return [self.render_user(self.fake._users[i], fields) for i in unique]


def _make_handler(fake: FakeX) -> type[BaseHTTPRequestHandler]:
    api = _Api(fake)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self.serve("GET")

        def do_POST(self) -> None:
            self.serve("POST")

        def serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            fake._record(RecordedRequest(method, url.path, query, payload, dict(self.headers)))
            try:
                self.dispatch(method, url.path, query, payload)
            except _HttpError as err:
                self.reply(err.status, err.body)

        def dispatch(self, method: str, path: str, query: dict[str, str], payload: Any) -> None:
            endpoint, groups = _route(method, path)
            user = fake._user_for(self.headers.get("Authorization", ""))
            if user is None:
                echo = self.headers.get("Authorization", "") if fake.echo_auth else None
                raise _HttpError(401, _about_blank(401, "Unauthorized", echo and
                                                   f"Unauthorized request; headers: Authorization: {echo}"))
            fault = fake._take_fault(endpoint)
            if fault is not None and fault.kind == "status":
                headers = dict(fault.headers)
                if fault.reset_in is not None:
                    headers["x-rate-limit-reset"] = str(math.ceil(time.time() + fault.reset_in))
                self.reply(fault.status, _fault_body(fault.status), headers)
                return
            if endpoint == CREATE:
                body, status = api.create(user, payload), 201
            elif endpoint == ME:
                body, status = api.me(user, query), 200
            elif endpoint == SEARCH:
                body, status = api.listing(endpoint, query, api.search_matcher(query)), 200
            elif endpoint == MENTIONS:
                uid = groups[0]
                body, status = api.listing(
                    endpoint, query, lambda p: any(m["id"] == uid for m in p.mentions)), 200
            else:
                uid = groups[0]
                body, status = api.listing(endpoint, query, lambda p: p.author_id == uid), 200
            if fault is not None and fault.kind == "drop":
                fake._released.wait(fault.stall)  # committed; the answer never comes
                self.close_connection = True
                return
            self.reply(status, body)

        def reply(self, status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            problem = status >= 400
            self.send_response(status)
            self.send_header("Content-Type",
                             "application/problem+json" if problem else "application/json")
            self.send_header("Content-Length", str(len(data)))
            reset = int((fake.clock() + timedelta(minutes=15)).timestamp())
            base = {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "99",
                    "x-rate-limit-reset": str(reset)}
            for name, value in (base | (headers or {})).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _route(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    for verb, pattern, endpoint in _ROUTES:
        m = pattern.fullmatch(path)
        if m and verb == method:
            return endpoint, m.groups()
    raise _HttpError(404, {"type": PROBLEM_BASE + "resource-not-found", "title": "Not Found Error",
                           "detail": f"no route {method} {path}", "status": 404,
                           "resource_type": "route", "parameter": "path", "value": path})
