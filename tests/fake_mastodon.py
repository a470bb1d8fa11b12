"""A fake Mastodon server over real HTTP on 127.0.0.1, following Mastodon's documented API.

Enough of Mastodon for the bridge: the instance's limits (GET /api/v2/instance), who am I,
status create with Idempotency-Key semantics (a repeated key within an hour returns the first
status and creates nothing, whatever the text; a failed request stores no key), the length rule
(graphemes, each URL 23, 422 "Validation failed: Text character limit of N exceeded"), an
account's statuses, mention notifications and a status's context, each list paged with Link
headers, and 429 with X-RateLimit-* headers. Tests inject faults and read what it received.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import grapheme
from loopback_http import LoopbackHttp

IDEMPOTENCY_WINDOW = timedelta(hours=1)
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"(?<![\w@])@(\w+)(?:@([\w.-]+))?")


@dataclass
class FakeAccount:
    id: str
    username: str
    display_name: str
    domain: str | None = None  # None: local to this instance
    token: str | None = None
    created_at: datetime = datetime(2020, 1, 1, tzinfo=UTC)

    @property
    def acct(self) -> str:
        return f"{self.username}@{self.domain}" if self.domain else self.username


@dataclass
class FakeStatus:
    id: str
    account: FakeAccount
    text: str
    created_at: datetime
    in_reply_to_id: str | None = None
    visibility: str = "public"
    language: str | None = None


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Fault:
    status: int
    after_commit: bool = False  # create the status, then fail the response (the doubt case)
    reset_in: float = 60.0


@dataclass
class FakeMastodon(LoopbackHttp):
    host: str = "social.example"
    max_characters: int = 500
    url_weight: int = 23
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    accounts: list[FakeAccount] = field(default_factory=list)
    statuses: list[FakeStatus] = field(default_factory=list)
    notifications: list[tuple[str, str, str]] = field(default_factory=list)  # (id, account id, status id)
    received: list[Recorded] = field(default_factory=list)
    _keys: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    _faults: dict[str, list[_Fault]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(109_000_000_000_000_000))
    _lock: Any = field(default_factory=threading.RLock)

    # -- lifecycle -------------------------------------------------------------------------
    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    # -- the test's side -------------------------------------------------------------------
    def add_account(self, username: str, display_name: str = "", *, domain: str | None = None,
                    token: str | None = None) -> FakeAccount:
        with self._lock:
            account = FakeAccount(str(next(self._ids)), username, display_name, domain, token)
            self.accounts.append(account)
            return account

    def reply(self, author: FakeAccount, to: str, text: str) -> FakeStatus:
        """`author` answers status `to`; mentioned local accounts get a notification."""
        with self._lock:
            return self._create(author, text, in_reply_to_id=to)

    def posts_by(self, account: FakeAccount) -> list[FakeStatus]:
        return [s for s in self.statuses if s.account is account]

    def fail_next(self, endpoint: str, status: int, count: int = 1, *, after_commit: bool = False,
                  reset_in: float = 60.0) -> None:
        """endpoint like 'POST /api/v1/statuses'; after_commit: the status is made, then `status`."""
        with self._lock:
            faults = self._faults.setdefault(endpoint, [])
            faults.extend(_Fault(status, after_commit, reset_in) for _ in range(count))

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.received if r.method == method and r.path == path]

    # -- the server's side -----------------------------------------------------------------
    def length(self, text: str) -> int:
        """Mastodon's count: graphemes, each URL counted as url_weight, @user@domain as @user."""
        text = _URL.sub("x" * self.url_weight, text)
        text = _MENTION.sub(lambda m: "@" + m.group(1), text)
        return grapheme.length(text)

    def _create(self, account: FakeAccount, text: str, in_reply_to_id: str | None = None,
                visibility: str = "public", language: str | None = None) -> FakeStatus:
        status = FakeStatus(str(next(self._ids)), account, text, self.clock(), in_reply_to_id,
                            visibility, language)
        self.statuses.append(status)
        for match in _MENTION.finditer(text):
            for target in self.accounts:
                if target.domain is None and target.username == match.group(1) and (
                        match.group(2) in (None, self.host)) and target is not account:
                    self.notifications.append((str(next(self._ids)), target.id, status.id))
        return status

    def _take_fault(self, endpoint: str) -> _Fault | None:
        faults = self._faults.get(endpoint)
        return faults.pop(0) if faults else None

    def render_account(self, a: FakeAccount) -> dict[str, Any]:
        return {"id": a.id, "username": a.username, "acct": a.acct, "display_name": a.display_name,
                "url": f"https://{a.domain or self.host}/@{a.username}", "bot": False,
                "created_at": _iso(a.created_at)}

    def render_status(self, s: FakeStatus) -> dict[str, Any]:
        mentions = []
        content = html.escape(s.text)
        for url in _URL.findall(s.text):
            esc = html.escape(url)
            content = content.replace(esc, f'<a href="{esc}" rel="nofollow noopener">{esc}</a>', 1)
        for match in _MENTION.finditer(s.text):
            domain = match.group(2) or self.host
            url = f"https://{domain}/@{match.group(1)}"
            mentions.append({"username": match.group(1), "url": url,
                             "acct": match.group(0)[1:]})
            content = content.replace(match.group(0), f'<span class="h-card"><a href="{url}" '
                                      f'class="u-url mention">@<span>{match.group(1)}</span></a></span>', 1)
        return {"id": s.id, "uri": f"https://{self.host}/users/{s.account.username}/statuses/{s.id}",
                "url": f"https://{self.host}/@{s.account.username}/{s.id}",
                "created_at": _iso(s.created_at), "account": self.render_account(s.account),
                "content": f"<p>{content}</p>", "visibility": s.visibility, "language": s.language,
                "in_reply_to_id": s.in_reply_to_id, "reblog": None, "mentions": mentions,
                "spoiler_text": "", "sensitive": False}


class _HttpError(Exception):
    def __init__(self, status: int, error: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.headers = status, error, headers or {}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _page(fake: FakeMastodon, path: str, items: list[tuple[str, dict[str, Any]]],
          query: dict[str, str], default: int, most: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Newest first, max_id/since_id/min_id/limit, and a Link header as Mastodon writes it."""
    limit = min(int(query.get("limit", default)), most)
    chosen = sorted(items, key=lambda it: int(it[0]), reverse=True)
    if "max_id" in query:
        chosen = [it for it in chosen if int(it[0]) < int(query["max_id"])]
    if "since_id" in query:
        chosen = [it for it in chosen if int(it[0]) > int(query["since_id"])]
    page = chosen[:limit]
    headers: dict[str, str] = {}
    if page:
        base = f"{fake.base_url}{path}"
        kept = {k: v for k, v in query.items() if k in ("types[]", "exclude_reblogs", "limit")}
        nxt = urlencode({**kept, "max_id": page[-1][0]})
        prev = urlencode({**kept, "min_id": page[0][0]})
        headers["Link"] = f'<{base}?{nxt}>; rel="next", <{base}?{prev}>; rel="prev"'
    return [body for _, body in page], headers


def _handler(fake: FakeMastodon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.serve("GET")

        def do_POST(self) -> None:
            self.serve("POST")

        def serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            size = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(size).decode() if size else ""
            ctype = self.headers.get("Content-Type", "")
            form = json.loads(raw) if "json" in ctype and raw else {
                k: v[-1] for k, v in parse_qs(raw).items()}
            path = parts.path.rstrip("/") or "/"  # Rails routes take a trailing slash too
            rec = Recorded(method, path, query, {k: str(v) for k, v in form.items()},
                           {k.lower(): v for k, v in self.headers.items()})
            with fake._lock:
                fake.received.append(rec)
                try:
                    status, body, headers = self.dispatch(rec)
                except _HttpError as exc:
                    status, body, headers = exc.status, {"error": exc.error}, exc.headers
            self.send(status, body, headers)

        def dispatch(self, rec: Recorded) -> tuple[int, Any, dict[str, str]]:
            endpoint = f"{rec.method} {re.sub(r'/[0-9]+', '/:id', rec.path)}"
            fault = fake._take_fault(endpoint)
            if fault is not None and not fault.after_commit:
                raise self.fault(fault)
            me = self.auth(rec)
            status, body, headers = self.route(rec, me)
            if fault is not None:
                raise self.fault(fault)
            return status, body, headers

        def fault(self, fault: _Fault) -> _HttpError:
            headers: dict[str, str] = {}
            if fault.status == 429:
                reset = fake.clock() + timedelta(seconds=fault.reset_in)
                headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
                           "X-RateLimit-Reset": _iso(reset)}
                return _HttpError(429, "Too many requests", headers)
            return _HttpError(fault.status, "fault injected by the test", headers)

        def auth(self, rec: Recorded) -> FakeAccount | None:
            if rec.path == "/api/v2/instance":
                return None
            token = rec.headers.get("authorization", "").removeprefix("Bearer ")
            for account in fake.accounts:
                if account.token and account.token == token:
                    return account
            raise _HttpError(401, "The access token is invalid")

        def route(self, rec: Recorded, me: FakeAccount | None) -> tuple[int, Any, dict[str, str]]:
            path, q = rec.path, rec.query
            if path == "/api/v2/instance":
                return 200, {"domain": fake.host, "configuration": {"statuses": {
                    "max_characters": fake.max_characters,
                    "characters_reserved_per_url": fake.url_weight}}}, {}
            assert me is not None
            if path == "/api/v1/accounts/verify_credentials":
                return 200, fake.render_account(me), {}
            if rec.method == "POST" and path == "/api/v1/statuses":
                return self.create(rec, me)
            m = re.fullmatch(r"/api/v1/accounts/(\d+)/statuses", path)
            if m:
                items = [(s.id, fake.render_status(s)) for s in fake.statuses
                         if s.account.id == m.group(1)]
                body, headers = _page(fake, path, items, q, 20, 40)
                return 200, body, headers
            if path == "/api/v1/notifications":
                byid = {s.id: s for s in fake.statuses}
                items = [(n, {"id": n, "type": "mention", "created_at": _iso(byid[s].created_at),
                              "account": fake.render_account(byid[s].account),
                              "status": fake.render_status(byid[s])})
                         for n, acc, s in fake.notifications if acc == me.id]
                body, headers = _page(fake, path, items, q, 40, 80)
                return 200, body, headers
            m = re.fullmatch(r"/api/v1/statuses/(\d+)/context", path)
            if m:
                return 200, self.context(m.group(1)), {}
            raise _HttpError(404, "Record not found")

        def create(self, rec: Recorded, me: FakeAccount) -> tuple[int, Any, dict[str, str]]:
            key = rec.headers.get("idempotency-key")
            now = fake.clock()
            if key and (me.id, key) in fake._keys:
                sid, at = fake._keys[(me.id, key)]
                if now - at < IDEMPOTENCY_WINDOW:
                    return 200, fake.render_status(next(s for s in fake.statuses if s.id == sid)), {}
            text = rec.form.get("status", "")
            if not text.strip():
                raise _HttpError(422, "Validation failed: Text can't be blank")
            if fake.length(text) > fake.max_characters:
                raise _HttpError(422, "Validation failed: Text character limit of "
                                 f"{fake.max_characters} exceeded")
            status = fake._create(me, text, rec.form.get("in_reply_to_id"),
                                  rec.form.get("visibility", "public"), rec.form.get("language"))
            if key:
                fake._keys[(me.id, key)] = (status.id, now)
            return 200, fake.render_status(status), {}

        def context(self, sid: str) -> dict[str, Any]:
            if not any(s.id == sid for s in fake.statuses):
                raise _HttpError(404, "Record not found")
            found: list[FakeStatus] = []
            frontier = {sid}
            for _ in range(50):  # bounded depth
                children = [s for s in fake.statuses if s.in_reply_to_id in frontier]
                if not children:
                    break
                found += children
                frontier = {s.id for s in children}
            return {"ancestors": [], "descendants": [fake.render_status(s) for s in found]}

        def send(self, status: int, body: Any, headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
