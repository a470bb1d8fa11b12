"""IMAP adapter: read one folder incrementally by (UIDVALIDITY, UID), never touching \\Seen; IDLE."""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, LoginError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from bridge import stopping
from bridge.endpoints import plaintext_refused
from bridge.errors import AuthError, BridgeError, PermanentError, TransientError
from bridge.mail.parse import MESSAGE_HEAD_BYTES
from bridge.model import Cursor, FetchBatch, Problem, RawMail

Security = Literal["tls", "starttls", "plain"]
# RFC 5530 response codes that say "try again later" rather than "this will never work".
_TRANSIENT_CODES = ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]", "[SERVERBUG]", "[CONTACTADMIN]")

log = structlog.get_logger()
_META_CHUNK = 1000  # UIDs per size/date FETCH: a few dozen bytes of answer each
# Only the head of a message is fetched (a partial FETCH); readers of archives cut at the same place.
_BODY_HEAD = f"BODY.PEEK[]<0.{MESSAGE_HEAD_BYTES}>".encode()
_BODY_KEYS = (b"BODY[]<0>", b"BODY[]")


def _size(item: dict[bytes, Any] | None) -> int | None:
    value = (item or {}).get(b"RFC822.SIZE")
    return int(value) if isinstance(value, int) else None


def _body(item: dict[bytes, Any] | None) -> bytes | None:
    for key in _BODY_KEYS:
        value = (item or {}).get(key)
        if isinstance(value, bytes):
            return value
    return None


def _internal_date(item: dict[bytes, Any] | None) -> datetime | None:
    """INTERNALDATE as aware UTC (the documented date fallback); None when absent."""
    value = (item or {}).get(b"INTERNALDATE")
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def translate_error(exc: BaseException, context: str) -> BridgeError:
    """Map an imapclient/imaplib/socket error to the bridge's transient/permanent/auth errors."""
    text = re.sub(r"^b'(.*)'$", r"\1", str(exc))  # imapclient stringifies server bytes
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(f"{context}: server certificate not trusted: {exc.verify_message}")
    if isinstance(exc, LoginError):
        if any(code in text for code in _TRANSIENT_CODES):
            return TransientError(f"{context}: login temporarily unavailable: {text}")
        return AuthError(f"{context}: login refused: {text}")
    if isinstance(exc, CapabilityError):
        return PermanentError(f"{context}: server lacks a required capability: {text}")
    if isinstance(exc, imaplib.IMAP4.abort | OSError | EOFError):  # abort: connection dropped
        return TransientError(f"{context}: connection failed: {type(exc).__name__}: {text}")
    if any(code in text for code in _TRANSIENT_CODES):
        return TransientError(f"{context}: server busy: {text}")
    return PermanentError(f"{context}: server refused: {text}")


def _announces_mail(responses: list[Any]) -> bool:
    return any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses)


def _says_bye(responses: list[Any]) -> bool:
    return any(r and r[0] == b"BYE" for r in responses)


def _shutdown_quietly(client: IMAPClient) -> None:
    with suppress(Exception):  # the socket is already gone (peer closed it, or TLS setup failed)
        client.shutdown()


class ImapMailbox:
    """One folder on one IMAP server, opened read-only."""

    def __init__(
        self, *, host: str, port: int, security: Security, username: str,
        password: Callable[[], str] | None = None,
        oauth2_token: Callable[[], str] | None = None, folder: str = "INBOX",
        ca_file: str | None = None, allow_plaintext: bool = False, timeout: float = 30.0,
        batch_size: int = 200, max_message_bytes: int = 25_000_000, batch_bytes: int = 16 << 20,
        idle_seconds: float = 600.0, connect_attempts: int = 4, retry_wait: float = 2.0,
    ) -> None:
        if security not in ("tls", "starttls", "plain"):
            raise PermanentError(f"imap security must be tls, starttls or plain, not {security!r}")
        if plaintext_refused(security, allow_plaintext, host):
            raise PermanentError(
                f"imap: refusing plaintext IMAP to {host}: passwords and mail would cross the "
                "network unencrypted; use tls or starttls (plain is allowed only with "
                "allow_plaintext on a loopback host)"
            )
        if (password is None) == (oauth2_token is None):
            raise PermanentError("imap: give exactly one of password or oauth2_token")
        if batch_size < 1 or idle_seconds <= 0 or connect_attempts < 1:
            raise PermanentError("imap: batch_size, idle_seconds, connect_attempts must be > 0")
        self.host, self.port, self.security, self.username = host, port, security, username
        self.folder, self.ca_file, self.timeout = folder, ca_file, timeout
        self.batch_size, self.max_message_bytes = batch_size, max_message_bytes
        self.batch_bytes = batch_bytes
        self.idle_seconds = idle_seconds
        self._password, self._oauth2_token = password, oauth2_token
        self._retrying = Retrying(
            stop=stop_after_attempt(connect_attempts) | stopping.stop_when_requested,
            sleep=stopping.wait,
            wait=wait_exponential(multiplier=retry_wait, max=max(retry_wait * 16, 1.0)),
            retry=retry_if_exception_type(TransientError),
            before_sleep=self._log_retry, reraise=True,
        )
        self._client: IMAPClient | None = None
        self._idling = False  # IDLE sent and DONE not yet answered
        self._uidvalidity = 0
        self._next_uid = 1  # first UID not yet reported by fetch_new (or UIDNEXT at connect)
        self._log = log.bind(host=host, port=port, folder=folder, username=username)

    # -- connection -------------------------------------------------------------------------

    def connect(self) -> int:
        """Connect, log in, select the folder read-only (retrying transient failures)."""
        self.close()
        uidvalidity: int = self._retrying(self._connect_once)
        return uidvalidity

    def _connect_once(self) -> int:
        with self._guard("connect"):
            client = self._open_client()
            try:
                self._login(client)
                selected = client.select_folder(self.folder, readonly=True)
            except BaseException:
                _shutdown_quietly(client)
                raise
            client.normalise_times = False  # INTERNALDATE keeps its zone: made UTC, never local
            # Keepalive lets the kernel notice a silently dropped link under long IDLEs too.
            client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._client = client
        self._uidvalidity = int(selected[b"UIDVALIDITY"])
        self._next_uid = int(selected.get(b"UIDNEXT", 1))
        self._log.info("imap_connected", security=self.security, uidvalidity=self._uidvalidity,
                       exists=selected.get(b"EXISTS"))
        return self._uidvalidity

    def _open_client(self) -> IMAPClient:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.security == "tls":
            return IMAPClient(self.host, port=self.port, ssl=True, ssl_context=context,
                              timeout=self.timeout)
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=self.timeout)
        if self.security == "starttls":
            try:
                client.starttls(context)
            except BaseException:
                _shutdown_quietly(client)
                raise
        return client

    def _login(self, client: IMAPClient) -> None:
        # Secrets are read from the callables at each connect and never stored or logged.
        if self._oauth2_token is not None:
            client.oauth2_login(self.username, self._oauth2_token())
        elif self._password is not None:
            password = self._password()
            if password.isascii() and self.username.isascii():
                client.login(self.username, password)
            else:  # LOGIN is ASCII only; SASL PLAIN carries UTF-8 (RFC 4616)
                client.plain_login(self.username, password)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self._log.warning("imap_connect_retried", attempt=state.attempt_number, error=str(error))

    def _require_client(self) -> IMAPClient:
        if self._client is None:
            self.connect()
        assert self._client is not None
        if self._idling:  # a signal ended a wait inside IDLE: end it before any other command
            with self._guard("idle done"):
                self._end_idle(self._client)
        return self._client

    def _end_idle(self, client: IMAPClient) -> list[Any]:
        """Send DONE for an IDLE in progress and read its answer, within the timeout."""
        self._idling = False
        client.socket().settimeout(self.timeout)  # idle_check leaves the socket without one
        _, tail = client.idle_done()
        tail_list: list[Any] = tail
        return tail_list

    @contextmanager
    def _guard(self, context: str) -> Iterator[None]:
        """Translate library errors; a failed connection is dropped so the next call reconnects."""
        try:
            yield
        except BridgeError as exc:
            if isinstance(exc, TransientError):
                self._drop()
            raise
        except (imaplib.IMAP4.error, OSError, EOFError) as exc:
            error = translate_error(exc, f"imap {self.host}:{self.port} {context}")
            if isinstance(error, TransientError):
                self._drop()
            raise error from exc

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._idling = False
        if client is not None:
            self._log.warning("imap_connection_dropped")
            _shutdown_quietly(client)

    def close(self) -> None:
        """Log out (best effort) and forget the connection."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self._idling:  # LOGOUT inside IDLE would wait for the whole timeout: DONE first
                self._end_idle(client)
            client.logout()
        except Exception:  # a dead link cannot log out; just release the socket
            _shutdown_quietly(client)
        self._log.info("imap_closed")

    # -- fetching ---------------------------------------------------------------------------

    def fetch_new(self, cursor: Cursor | None) -> Iterator[FetchBatch]:
        """Messages after `cursor`, in batches bounded by bytes and count; from UID 1 when
        UIDVALIDITY (or folder) differs. Of each message only its first MESSAGE_HEAD_BYTES are
        fetched, so memory is bounded whatever the mailbox holds."""
        client = self._require_client()
        first = self._first_uid(cursor)
        with self._guard("search"):
            # The server shows a session new messages only at a sync point: NOOP is one.
            client.noop()
            # `UID SEARCH UID n:*` also returns the highest message when its UID is below n.
            uids = sorted(uid for uid in client.search(f"UID {first}:*") if uid >= first)
        for start in range(0, len(uids), _META_CHUNK):
            chunk = uids[start:start + _META_CHUNK]
            with self._guard("fetch"):
                meta = client.fetch(chunk, [b"RFC822.SIZE", b"INTERNALDATE"])
            for group in self._groups(chunk, meta):
                batch = self._fetch_batch(client, group, meta)
                self._next_uid = max(self._next_uid, batch.cursor.last_uid + 1)
                yield batch

    def _first_uid(self, cursor: Cursor | None) -> int:
        if cursor is None:
            return 1
        if cursor.folder != self.folder or cursor.uidvalidity != self._uidvalidity:
            self._log.warning("imap_cursor_reset", cursor_folder=cursor.folder,
                              cursor_uidvalidity=cursor.uidvalidity, uidvalidity=self._uidvalidity)
            return 1
        return cursor.last_uid + 1

    def _groups(self, uids: list[int], meta: dict[int, Any]) -> Iterator[list[int]]:
        """Consecutive UIDs whose fetched bytes stay within batch_bytes (at least one each)."""
        group: list[int] = []
        held = 0
        for uid in uids:
            size = min(_size(meta.get(uid)) or 0, MESSAGE_HEAD_BYTES)
            if group and (held + size > self.batch_bytes or len(group) >= self.batch_size):
                yield group
                group, held = [], 0
            group.append(uid)
            held += size
        if group:
            yield group

    def _fetch_batch(self, client: IMAPClient, uids: list[int], meta: dict[int, Any]) -> FetchBatch:
        sizes = {uid: size for uid in uids if (size := _size(meta.get(uid))) is not None}
        wanted = [uid for uid in uids if uid in sizes and sizes[uid] <= self.max_message_bytes]
        with self._guard("fetch"):
            bodies = client.fetch(wanted, [_BODY_HEAD]) if wanted else {}
        mails = []
        problems = [self._problem(uid, 0, "not in the server's FETCH answer (expunged while "
                                  "being read?); not fetched") for uid in uids if uid not in sizes]
        for uid in wanted:
            data = _body(bodies.get(uid))
            if data is None:
                problems.append(self._problem(uid, sizes[uid], "no body in the server's FETCH "
                                              "answer; not fetched"))
                continue
            mails.append(RawMail(data=data, source=self._source(uid), uid=uid,
                                 size=max(sizes[uid], len(data)),
                                 internal_date=_internal_date(meta.get(uid))))
        oversized = [self._problem(uid, size, f"message size {size} bytes exceeds the limit of "
                                   f"{self.max_message_bytes} bytes; not fetched")
                     for uid, size in sorted(sizes.items()) if size > self.max_message_bytes]
        for problem in oversized:
            self._log.warning("imap_message_oversized", source=problem.source, size=problem.size)
        cursor = Cursor(folder=self.folder, uidvalidity=self._uidvalidity, last_uid=max(uids))
        self._log.info("imap_batch_fetched", count=len(mails), oversized=len(oversized),
                       missing=len(problems), last_uid=cursor.last_uid,
                       uidvalidity=cursor.uidvalidity)
        return FetchBatch(mails=tuple(mails), oversized=tuple(problems + oversized), cursor=cursor)

    def _problem(self, uid: int, size: int, reason: str) -> Problem:
        return Problem(source=self._source(uid), reason=reason, size=size)

    def _source(self, uid: int) -> str:
        return f"imap:{self.folder} uid {uid}"

    # -- waiting ----------------------------------------------------------------------------

    def wait_for_mail(self, timeout: float) -> bool:
        """IDLE up to `timeout` s; True if mail arrived since the last fetch_new (or connect).

        IDLE is re-issued every `idle_seconds`; each re-issue is a round trip, so a silently
        dead link is noticed then. A dropped connection raises TransientError.
        """
        client = self._require_client()
        with self._guard("idle"):
            if self._has_arrivals(client):
                return True
            # Without IDLE, poll: a NOOP + SEARCH every idle_seconds.
            wait_once = self._idle_once if client.has_capability("IDLE") else self._poll_once
            deadline = time.monotonic() + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                if wait_once(client, min(remaining, self.idle_seconds)):
                    self._log.info("imap_mail_announced")
                    return True
        return False

    def _poll_once(self, client: IMAPClient, span: float) -> bool:
        time.sleep(span)
        return self._has_arrivals(client)

    def _has_arrivals(self, client: IMAPClient) -> bool:
        """Catch mail that landed between the last fetch and IDLE (no EXISTS would follow)."""
        client.noop()  # sync the session's view first, as in fetch_new
        return any(uid >= self._next_uid for uid in client.search(f"UID {self._next_uid}:*"))

    def _idle_once(self, client: IMAPClient, span: float) -> bool:
        """One IDLE command for at most `span` s; True if the server announced new mail."""
        client.idle()
        self._idling = True  # until DONE is answered; a signal may end the wait before that
        self._log.debug("imap_idle_started", seconds=round(span, 1))
        arrived = False
        end = time.monotonic() + span
        while not arrived and (left := end - time.monotonic()) > 0:
            responses = client.idle_check(timeout=left)
            if _says_bye(responses):
                raise TransientError(f"imap {self.host}:{self.port}: server said BYE during IDLE")
            if not responses:
                # Timed out, or woke on EOF (idle_check then returns [] forever): the DONE
                # round trip below proves the link alive or raises.
                break
            arrived = _announces_mail(responses)
        tail = self._end_idle(client)
        if _says_bye(tail):
            raise TransientError(f"imap {self.host}:{self.port}: server said BYE after IDLE")
        return arrived or _announces_mail(tail)
