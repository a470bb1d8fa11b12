"""SMTP adapter over smtplib: TLS with verification, auth, our error types; no business rules.

Only failures that prove the server did not take the message (connection refused, a 4xx before
or in answer to the message data) are retried here. A connection lost or a timeout while the
message data is in flight is *ambiguous*: the server may have queued it. That error (Uncertain) is
raised at once; the relaying stage then waits for the echo before any resend.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Literal

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from bridge import stopping
from bridge.endpoints import plaintext_refused
from bridge.errors import AuthError, BridgeError, MessageRefused, NotSent, PermanentError, transient

Security = Literal["tls", "starttls", "plain"]
_DEFAULT_PORTS = {"tls": 465, "starttls": 587, "plain": 25}

log = structlog.get_logger()


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, NotSent)


def _reply_error(code: int, text: str, context: str, *, message: bool = True) -> BridgeError:
    """4xx: try later. 5xx: MessageRefused when it refuses this message (envelope, data);
    a plain PermanentError when it refuses the session (greeting, TLS): not the message's fault."""
    if 400 <= code < 500:
        return NotSent(f"{context}: {code} {text}")
    if message:
        return MessageRefused(f"{context}: {code} {text}", code)
    return PermanentError(f"{context}: {code} {text}")


def _text(resp: bytes | str) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


class SmtpSender:
    """One submission server. A new connection per call: relays are rare, idle links go stale."""

    def __init__(
        self, *, host: str, port: int, security: Security = "starttls", username: str = "",
        password: Callable[[], str] | None = None, ca_file: str | None = None,
        allow_plaintext: bool = False, timeout: float = 30.0, attempts: int = 3,
        retry_wait: float = 2.0,
    ) -> None:
        if security not in _DEFAULT_PORTS:
            raise PermanentError(f"smtp security must be tls, starttls or plain, not {security!r}")
        if plaintext_refused(security, allow_plaintext, host):
            raise PermanentError(f"smtp: refusing plaintext SMTP to {host}; use tls or starttls "
                                 "(plain only with allow_plaintext on a loopback host)")
        if username and password is None:
            raise PermanentError("smtp: a username needs a password")
        self.host, self.port, self.security, self.username = host, port, security, username
        self.ca_file, self.timeout = ca_file, timeout
        self._password = password
        self._retrying = Retrying(
            stop=stop_after_attempt(max(attempts, 1)) | stopping.stop_when_requested,
            sleep=stopping.wait,
            wait=wait_exponential(multiplier=retry_wait, max=max(retry_wait * 8, 0.1)),
            retry=retry_if_exception(_retryable), before_sleep=self._log_retry, reraise=True,
        )
        self._log = log.bind(host=host, port=port)

    def send(self, raw: bytes, from_addr: str, to_addrs: Sequence[str]) -> None:
        """Submit `raw` once; raises NotSent / Uncertain / MessageRefused / AuthError."""
        self._retrying(self._send_once, raw, from_addr, list(to_addrs))

    def check(self) -> None:
        """Connect, secure the connection and log in, sending nothing (for the `check` command)."""
        with self._session("check") as client:
            with self._guard("check", ambiguous=False):
                code, resp = client.noop()
            if code != 250:
                raise _reply_error(code, _text(resp), f"smtp {self.host} NOOP", message=False)

    def _send_once(self, raw: bytes, from_addr: str, to_addrs: list[str]) -> None:
        with self._session("send") as client:
            self._envelope(client, from_addr, to_addrs)
            # From here on a lost connection may hide an accepted message.
            with self._guard("data", ambiguous=True, message=True):
                code, resp = client.data(raw)
            if code != 250:
                raise _reply_error(code, _text(resp), f"smtp {self.host} DATA")
        self._log.info("smtp_sent", size=len(raw), recipients=len(to_addrs))

    def _envelope(self, client: smtplib.SMTP, from_addr: str, to_addrs: list[str]) -> None:
        with self._guard("envelope", ambiguous=False, message=True):
            code, resp = client.mail(from_addr)
            if code != 250:
                raise _reply_error(code, _text(resp), f"smtp {self.host} MAIL FROM")
            for rcpt in to_addrs:
                code, resp = client.rcpt(rcpt)
                if code not in (250, 251):
                    raise _reply_error(code, _text(resp), f"smtp {self.host} RCPT TO")

    @contextmanager
    def _session(self, context: str) -> Iterator[smtplib.SMTP]:
        with self._guard(f"{context} connect", ambiguous=False):
            client = self._connect()
        try:
            with self._guard(f"{context} login", ambiguous=False):
                if self.username and self._password is not None:
                    _login(client, self.username, self._password())
            yield client
        finally:
            with suppress(smtplib.SMTPException, OSError):
                client.quit()
            with suppress(OSError):
                client.close()

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.ca_file)
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if self.security == "starttls":  # before TLS, EHLO only finds out about STARTTLS
                if not client.has_extn("starttls"):
                    raise MessageRefused(f"smtp {self.host}: server does not offer STARTTLS")
                client.starttls(context=context)
                client.ehlo()
        except BaseException:
            client.close()
            raise
        return client

    @contextmanager
    def _guard(self, context: str, *, ambiguous: bool, message: bool = False) -> Iterator[None]:
        """Translate smtplib/socket/ssl errors into ours (never logging the password)."""
        where = f"smtp {self.host}:{self.port} {context}"
        try:
            yield
        except smtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.smtp_code < 500:
                raise NotSent(f"{where}: login temporarily refused: {exc.smtp_code}") from None
            raise AuthError(f"{where}: login refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MessageRefused(f"{where}: {exc}") from None
        except smtplib.SMTPResponseException as exc:  # includes SMTPConnectError, SMTPDataError
            raise _reply_error(exc.smtp_code, _text(exc.smtp_error), where, message=message) from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(f"{where}: server certificate not trusted: {exc.verify_message}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise transient(f"{where}: {type(exc).__name__}: {exc}", ambiguous=ambiguous) from None

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self._log.warning("smtp_send_retried", attempt=state.attempt_number, error=str(error))


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    """smtplib's login encodes credentials as ASCII; others go as AUTH PLAIN in UTF-8 (RFC 4616)."""
    if username.isascii() and password.isascii():
        client.login(username, password)
        return
    client.ehlo_or_helo_if_needed()
    if "PLAIN" not in client.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPAuthenticationError(
            504, b"the server offers no AUTH PLAIN, which a non-ASCII password needs")
    blob = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    code, reply = client.docmd("AUTH", f"PLAIN {blob}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)
