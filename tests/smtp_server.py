"""A real SMTP server for tests: aiosmtpd on a free loopback port, plain, STARTTLS or TLS,
recording what it is given and able to answer with injected failures."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bridge.adapters.smtp import SmtpSender


@dataclass
class RecordingHandler:
    """Records delivered envelopes; `rcpt_replies` / `data_replies` are consumed one per call
    (then 250), `drop_on_data` closes the connection instead of answering the data."""

    rcpt_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    drop_on_data: int = 0
    delivered: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    data_calls: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_calls += 1
        if self.drop_on_data:
            self.drop_on_data -= 1
            server.transport.close()
            return "250 never seen"
        if self.data_replies:
            return self.data_replies.pop(0)
        self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    return cert, key


PASSWORDS = (b"s3cret", "pässwörd-€".encode())  # the accounts' passwords, the login is "bridge"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"bridge" and data.password in PASSWORDS
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


class SmtpServer:
    """An aiosmtpd Controller on a free loopback port; `mode` is plain, starttls or tls."""

    def __init__(self, handler: RecordingHandler, mode: str = "plain", cert: tuple[Path, Path] | None = None,
                 auth: bool = False, port: int | None = None) -> None:
        self.handler, self.mode, self.port = handler, mode, port or free_port()
        kwargs: dict[str, Any] = {}
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            kwargs["ssl_context" if mode == "tls" else "tls_context"] = context
            if mode == "starttls":
                kwargs["require_starttls"] = True
        if auth:
            kwargs.update(authenticator=_authenticator, auth_required=True, auth_require_tls=mode != "plain")
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (a test may have stopped it already: "the server is down")."""
        with contextlib.suppress(AssertionError, RuntimeError):
            self.controller.stop()


def plain_sender(port: int, **kwargs: Any) -> SmtpSender:
    return SmtpSender(host="127.0.0.1", port=port, security="plain", allow_plaintext=True,
                      timeout=5, retry_wait=0.01, **kwargs)
