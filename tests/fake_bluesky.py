"""A fake Bluesky PDS (with the AppView's reads) over real HTTP on 127.0.0.1, after the lexicons.

Used where @atproto/dev-env cannot run (see docs/deploy.md): it serves XRPC as the lexicons
describe it (com.atproto.server.createSession/refreshSession, com.atproto.repo.createRecord/
getRecord, app.bsky.notification.listNotifications, app.bsky.feed.getPostThread) with the PDS's
observed behaviour: a record key must be a TID; creating at an existing key fails with 500
InternalServerError (atproto issue #3718); app.bsky.feed.post text is at most 300 graphemes and
facet ranges must lie inside its UTF-8 bytes; an expired access token is a 400 ExpiredToken;
createSession is limited per identifier; 429 carries the ratelimit-* headers.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grapheme
from loopback_http import LoopbackHttp

POST = "app.bsky.feed.post"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
SESSIONS_PER_5_MIN = 30


@dataclass
class FakeActor:
    did: str
    handle: str
    display_name: str = ""
    app_password: str | None = None


@dataclass
class FakeRecord:
    uri: str
    cid: str
    author: FakeActor
    value: dict[str, Any]
    indexed_at: str

    @property
    def rkey(self) -> str:
        return self.uri.rsplit("/", 1)[-1]


@dataclass
class Recorded:
    nsid: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class _Fault:
    status: int
    error: str
    after_commit: bool = False
    reset_in: int = 60


@dataclass
class FakeBluesky(LoopbackHttp):
    actors: list[FakeActor] = field(default_factory=list)
    records: list[FakeRecord] = field(default_factory=list)
    received: list[Recorded] = field(default_factory=list)
    sessions_created: list[tuple[str, float]] = field(default_factory=list)
    access_ttl: int = 7200  # seconds an access token lives (the real PDS: 2 hours)
    _tokens: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # jwt -> (did, kind, exp)
    _faults: dict[str, list[_Fault]] = field(default_factory=dict)
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    _lock: Any = field(default_factory=threading.RLock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    # -- the test's side -------------------------------------------------------------------
    def add_actor(self, handle: str, display_name: str = "", app_password: str | None = None
                  ) -> FakeActor:
        with self._lock:
            did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
            actor = FakeActor(did, handle, display_name, app_password)
            self.actors.append(actor)
            return actor

    def reply(self, author: FakeActor, parent_uri: str, text: str) -> FakeRecord:
        """`author` replies to `parent_uri` (root taken from the parent)."""
        with self._lock:
            parent = self.record(parent_uri)
            assert parent is not None
            root = parent.value.get("reply", {}).get("root") or {"uri": parent.uri, "cid": parent.cid}
            value = {"$type": POST, "text": text, "createdAt": _now(),
                     "reply": {"root": root, "parent": {"uri": parent.uri, "cid": parent.cid}}}
            return self._create(author, _tid_now(), value)

    def posts_by(self, actor: FakeActor) -> list[FakeRecord]:
        return [r for r in self.records if r.author is actor and "reply" not in r.value]

    def record(self, uri: str) -> FakeRecord | None:
        return next((r for r in self.records if r.uri == uri), None)

    def fail_next(self, nsid: str, status: int, error: str = "InternalServerError", count: int = 1,
                  *, after_commit: bool = False, reset_in: int = 60) -> None:
        with self._lock:
            self._faults.setdefault(nsid, []).extend(
                _Fault(status, error, after_commit, reset_in) for _ in range(count))

    def expire_access_tokens(self) -> None:
        """The server-side view: every access token has expired (the client's clock disagrees)."""
        with self._lock:
            for jwt, (did, kind, _) in list(self._tokens.items()):
                if kind == "access":
                    self._tokens[jwt] = (did, kind, 0.0)

    def calls(self, nsid: str) -> list[Recorded]:
        return [r for r in self.received if r.nsid == nsid]

    # -- the server's side -----------------------------------------------------------------
    def _create(self, author: FakeActor, rkey: str, value: dict[str, Any]) -> FakeRecord:
        uri = f"at://{author.did}/{POST}/{rkey}"
        cid = "bafyrei" + base64.b32encode(hashlib.sha256(
            json.dumps(value, sort_keys=True).encode() + uri.encode()).digest()).decode().lower()[:52]
        record = FakeRecord(uri, cid, author, value, _now())
        self.records.append(record)
        return record

    def _issue(self, did: str) -> dict[str, str]:
        now = time.time()
        access = _jwt({"sub": did, "scope": "com.atproto.appPass", "iat": int(now),
                       "exp": int(now + self.access_ttl), "jti": str(next(self._seq))})
        refresh = _jwt({"sub": did, "scope": "com.atproto.refresh", "iat": int(now),
                        "exp": int(now + 90 * 86400), "jti": str(next(self._seq))})
        self._tokens[access] = (did, "access", now + self.access_ttl)
        self._tokens[refresh] = (did, "refresh", now + 90 * 86400)
        actor = self._actor(did)
        return {"did": did, "handle": actor.handle, "accessJwt": access, "refreshJwt": refresh,
                "active": True}

    def _actor(self, did_or_handle: str) -> FakeActor:
        for actor in self.actors:
            if did_or_handle in (actor.did, actor.handle):
                return actor
        raise _XrpcError(400, "InvalidRequest", f"Could not find repo: {did_or_handle}")

    def profile(self, actor: FakeActor) -> dict[str, Any]:
        view = {"did": actor.did, "handle": actor.handle, "createdAt": "2021-05-01T00:00:00.000Z"}
        if actor.display_name:
            view["displayName"] = actor.display_name
        return view

    def post_view(self, r: FakeRecord) -> dict[str, Any]:
        return {"uri": r.uri, "cid": r.cid, "author": self.profile(r.author), "record": r.value,
                "indexedAt": r.indexed_at}


class _XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


def _jwt(payload: dict[str, Any]) -> str:
    def part(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(payload)}.c2ln"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _tid_now() -> str:
    value = (time.time_ns() // 1000) << 10
    chars = "234567abcdefghijklmnopqrstuvwxyz"
    return "".join(chars[(value >> (5 * (12 - i))) & 31] for i in range(13))


def _handler(fake: FakeBluesky) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.serve()

        def do_POST(self) -> None:
            self.serve()

        def serve(self) -> None:
            parts = urlsplit(self.path)
            nsid = parts.path.removeprefix("/xrpc/")
            size = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(size)) if size else None
            rec = Recorded(nsid, {k: v[-1] for k, v in parse_qs(parts.query).items()}, body,
                           {k.lower(): v for k, v in self.headers.items()})
            headers: dict[str, str] = {}
            with fake._lock:
                fake.received.append(rec)
                try:
                    status, out = self.dispatch(rec)
                except _XrpcError as exc:
                    status, out, headers = exc.status, {"error": exc.error,
                                                        "message": exc.message}, exc.headers
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def dispatch(self, rec: Recorded) -> tuple[int, Any]:
            faults = fake._faults.get(rec.nsid)
            fault = faults.pop(0) if faults else None
            if fault is not None and not fault.after_commit:
                raise self.fault(fault)
            result = self.route(rec)
            if fault is not None:
                raise self.fault(fault)
            return result

        def fault(self, fault: _Fault) -> _XrpcError:
            headers = {}
            if fault.status == 429:
                headers = {"ratelimit-limit": "5000", "ratelimit-remaining": "0",
                           "ratelimit-reset": str(int(time.time()) + fault.reset_in),
                           "ratelimit-policy": "5000;w=3600"}
            return _XrpcError(fault.status, fault.error, "fault injected by the test", headers)

        def auth(self, rec: Recorded, kind: str = "access") -> FakeActor:
            token = rec.headers.get("authorization", "").removeprefix("Bearer ")
            found = fake._tokens.get(token)
            if found is None or found[1] != kind:
                raise _XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
            if found[2] < time.time():
                raise _XrpcError(400, "ExpiredToken", "Token has expired")
            return fake._actor(found[0])

        def route(self, rec: Recorded) -> tuple[int, Any]:
            name = rec.nsid.replace(".", "_")
            method = getattr(self, name, None)
            if method is None:
                raise _XrpcError(501, "MethodNotImplemented", f"Method Not Implemented: {rec.nsid}")
            return 200, method(rec)

        # -- com.atproto.server ----------------------------------------------------------
        def com_atproto_server_createSession(self, rec: Recorded) -> Any:
            ident = str(rec.body.get("identifier", ""))
            now = time.time()
            recent = [t for i, t in fake.sessions_created if i == ident and t > now - 300]
            if len(recent) >= SESSIONS_PER_5_MIN:
                raise _XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded",
                                 {"ratelimit-reset": str(int(now) + 300)})
            try:
                actor = fake._actor(ident)
            except _XrpcError:
                actor = None
            if actor is None or actor.app_password != rec.body.get("password"):
                raise _XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
            fake.sessions_created.append((ident, now))
            return fake._issue(actor.did)

        def com_atproto_server_refreshSession(self, rec: Recorded) -> Any:
            actor = self.auth(rec, "refresh")
            token = rec.headers["authorization"].removeprefix("Bearer ")
            del fake._tokens[token]  # a refresh token is used once
            return fake._issue(actor.did)

        def com_atproto_server_getSession(self, rec: Recorded) -> Any:
            actor = self.auth(rec)
            return {"did": actor.did, "handle": actor.handle, "active": True}

        # -- com.atproto.repo ------------------------------------------------------------
        def com_atproto_repo_createRecord(self, rec: Recorded) -> Any:
            actor = self.auth(rec)
            body = rec.body or {}
            if body.get("repo") not in (actor.did, actor.handle):
                raise _XrpcError(403, "InvalidRequest", "repo does not match the session")
            rkey = body.get("rkey") or _tid_now()
            if body.get("collection") != POST or not TID.match(rkey):
                raise _XrpcError(400, "InvalidRequest", "Invalid record key: must be a TID")
            _validate_post(body.get("record") or {})
            if any(r.uri == f"at://{actor.did}/{POST}/{rkey}" for r in fake.records):
                raise _XrpcError(500, "InternalServerError", "Internal Server Error")
            record = fake._create(actor, rkey, body["record"])
            return {"uri": record.uri, "cid": record.cid}

        def com_atproto_repo_getRecord(self, rec: Recorded) -> Any:
            q = rec.query
            actor = fake._actor(q.get("repo", ""))
            uri = f"at://{actor.did}/{q.get('collection')}/{q.get('rkey')}"
            found = fake.record(uri)
            if found is None:
                raise _XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
            return {"uri": found.uri, "cid": found.cid, "value": found.value}

        # -- app.bsky (the AppView's reads, proxied by the PDS) ----------------------------
        def app_bsky_notification_listNotifications(self, rec: Recorded) -> Any:
            me = self.auth(rec)
            limit = min(int(rec.query.get("limit", 50)), 100)
            notes = []
            for r in sorted(fake.records, key=lambda r: r.indexed_at, reverse=True):
                reason = _reason(fake, r, me)
                if reason:
                    notes.append({"uri": r.uri, "cid": r.cid, "author": fake.profile(r.author),
                                  "reason": reason, "record": r.value, "isRead": False,
                                  "indexedAt": r.indexed_at})
            start = int(rec.query.get("cursor", 0))
            page = notes[start:start + limit]
            out: dict[str, Any] = {"notifications": page}
            if start + limit < len(notes):
                out["cursor"] = str(start + limit)
            return out

        def app_bsky_feed_getPostThread(self, rec: Recorded) -> Any:
            self.auth(rec)
            root = fake.record(rec.query.get("uri", ""))
            if root is None:
                raise _XrpcError(400, "NotFound", "Post not found")
            depth = int(rec.query.get("depth", 6))

            def view(r: FakeRecord, level: int) -> dict[str, Any]:
                children = [c for c in fake.records
                            if c.value.get("reply", {}).get("parent", {}).get("uri") == r.uri]
                return {"$type": "app.bsky.feed.defs#threadViewPost", "post": fake.post_view(r),
                        "replies": [view(c, level + 1) for c in children] if level < depth else []}

            return {"thread": view(root, 0)}

    return Handler


def _reason(fake: FakeBluesky, r: FakeRecord, me: FakeActor) -> str | None:
    """One notification per post; a mention outranks a reply (as the AppView does)."""
    if r.author is me:
        return None
    for facet in r.value.get("facets") or ():
        for feature in facet.get("features", ()):
            if feature.get("did") == me.did:
                return "mention"
    parent = fake.record(r.value.get("reply", {}).get("parent", {}).get("uri", ""))
    root = fake.record(r.value.get("reply", {}).get("root", {}).get("uri", ""))
    if (parent and parent.author is me) or (root and root.author is me):
        return "reply"
    return None


def _validate_post(record: dict[str, Any]) -> None:
    text = record.get("text")
    if not isinstance(text, str) or record.get("$type") != POST or "createdAt" not in record:
        raise _XrpcError(400, "InvalidRecord", "Record/text must be a string")
    if grapheme.length(text) > 300 or len(text.encode()) > 3000:
        raise _XrpcError(400, "InvalidRecord", "Record/text must not be longer than 300 graphemes")
    size = len(text.encode())
    for facet in record.get("facets") or ():
        index = facet.get("index", {})
        start, end = index.get("byteStart", -1), index.get("byteEnd", -1)
        if not 0 <= start < end <= size:
            raise _XrpcError(400, "InvalidRecord", "Record/facets: byte range outside the text")
