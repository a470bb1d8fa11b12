"""SMTP adapter against a real aiosmtpd server on 127.0.0.1: TLS, auth, error mapping, retries.

"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_server import RecordingHandler, SmtpServer, free_port, make_cert, plain_sender

from bridge.adapters.smtp import SmtpSender
from bridge.config.reader import Section
from bridge.config.services import read_smtp
from bridge.errors import AuthError, MessageRefused, PermanentError, TransientError

RAW = (b"From: bridge@bridge.example.net\r\nTo: list@lists.example.org\r\nSubject: hi\r\n"
       b"Message-ID: <t1@bridge.example.net>\r\n\r\nHello\r\n.leading dot\r\n")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def plain_server(handler: RecordingHandler) -> Iterator[SmtpServer]:
    with SmtpServer(handler) as server:
        yield server


def test_send_delivers_exact_bytes_to_the_envelope_recipients(plain_server: SmtpServer,
                                                             handler: RecordingHandler) -> None:
    plain_sender(plain_server.port).send(RAW, "bridge@bridge.example.net", ["list@lists.example.org"])
    assert len(handler.delivered) == 1
    mail_from, rcpts, content = handler.delivered[0]
    assert (mail_from, rcpts) == ("bridge@bridge.example.net", ["list@lists.example.org"])
    assert content.rstrip(b"\r\n") == RAW.rstrip(b"\r\n")  # dot-stuffing undone, nothing rewritten


def test_plaintext_is_refused_without_allow_or_off_loopback() -> None:
    with pytest.raises(PermanentError, match="plaintext"):
        SmtpSender(host="127.0.0.1", port=25, security="plain")
    with pytest.raises(PermanentError, match="plaintext"):
        SmtpSender(host="smtp.example.org", port=25, security="plain", allow_plaintext=True)


def test_starttls_with_ca_file_and_auth_delivers(cert: tuple[Path, Path], handler: RecordingHandler) -> None:
    with SmtpServer(handler, "starttls", cert, auth=True) as server:
        sender = SmtpSender(host="127.0.0.1", port=server.port, security="starttls", username="bridge",
                            password=lambda: "s3cret", ca_file=str(cert[0]), timeout=5)
        sender.check()
        assert handler.delivered == []  # check sends nothing
        sender.send(RAW, "bridge@bridge.example.net", ["list@lists.example.org"])
    assert len(handler.delivered) == 1


def test_implicit_tls_delivers(cert: tuple[Path, Path], handler: RecordingHandler) -> None:
    with SmtpServer(handler, "tls", cert) as server:
        SmtpSender(host="127.0.0.1", port=server.port, security="tls", ca_file=str(cert[0]),
                   timeout=5).send(RAW, "bridge@bridge.example.net", ["list@lists.example.org"])
    assert len(handler.delivered) == 1


def test_self_signed_certificate_without_ca_file_is_refused_permanently(
        cert: tuple[Path, Path], handler: RecordingHandler) -> None:
    with SmtpServer(handler, "tls", cert) as server:
        sender = SmtpSender(host="127.0.0.1", port=server.port, security="tls", timeout=5, retry_wait=0.01)
        with pytest.raises(PermanentError, match="not trusted") as info:
            sender.send(RAW, "bridge@bridge.example.net", ["list@lists.example.org"])
    assert not isinstance(info.value, MessageRefused)  # the session's fault, not the message's
    assert handler.delivered == []


def test_wrong_password_is_an_auth_error_and_never_shows_the_password(
        cert: tuple[Path, Path], handler: RecordingHandler) -> None:
    with SmtpServer(handler, "starttls", cert, auth=True) as server:
        sender = SmtpSender(host="127.0.0.1", port=server.port, security="starttls", username="bridge",
                            password=lambda: "wrong-pass", ca_file=str(cert[0]), timeout=5)
        with pytest.raises(AuthError) as info:
            sender.check()
    assert "wrong-pass" not in str(info.value)


def test_a_non_ascii_password_logs_in_with_auth_plain_in_utf8(
        cert: tuple[Path, Path], handler: RecordingHandler) -> None:
    """Issue 13: smtplib's login encodes the password as ASCII and raised UnicodeEncodeError."""
    with SmtpServer(handler, "starttls", cert, auth=True) as server:
        def sender(password: str) -> SmtpSender:
            return SmtpSender(host="127.0.0.1", port=server.port, security="starttls",
                              username="bridge", password=lambda: password, ca_file=str(cert[0]),
                              timeout=5)
        sender("pässwörd-€").send(RAW, "bridge@bridge.example.net", ["list@lists.example.org"])
        with pytest.raises(AuthError) as info:
            sender("pässwörd-falsch").check()
    assert len(handler.delivered) == 1 and "falsch" not in str(info.value)


def test_5xx_on_data_is_permanent_and_not_retried(plain_server: SmtpServer,
                                                  handler: RecordingHandler) -> None:
    handler.data_replies = ["554 5.7.1 rejected by policy"]
    with pytest.raises(MessageRefused) as info:
        plain_sender(plain_server.port).send(RAW, "b@bridge.example.net", ["l@lists.example.org"])
    assert info.value.code == 554
    assert handler.data_calls == 1


def test_4xx_is_retried_with_backoff_then_delivered_once(plain_server: SmtpServer,
                                                         handler: RecordingHandler) -> None:
    handler.rcpt_replies = ["451 4.3.0 try later"]
    handler.data_replies = ["452 4.3.1 out of space"]
    plain_sender(plain_server.port, attempts=3).send(RAW, "b@bridge.example.net", ["l@lists.example.org"])
    assert len(handler.delivered) == 1


def test_persistent_4xx_gives_up_after_the_attempts_as_not_ambiguous(
        plain_server: SmtpServer, handler: RecordingHandler) -> None:
    handler.rcpt_replies = ["450 busy"] * 5
    with pytest.raises(TransientError) as info:
        plain_sender(plain_server.port, attempts=2).send(RAW, "b@bridge.example.net", ["l@lists.example.org"])
    assert not info.value.ambiguous
    assert handler.rcpt_replies == ["450 busy"] * 3  # exactly two attempts used


def test_connection_refused_is_transient_and_not_ambiguous() -> None:
    with pytest.raises(TransientError) as info:
        plain_sender(free_port(), attempts=2).send(RAW, "b@bridge.example.net", ["l@lists.example.org"])
    assert not info.value.ambiguous


def test_connection_lost_during_data_is_ambiguous_and_not_retried(
        plain_server: SmtpServer, handler: RecordingHandler) -> None:
    handler.drop_on_data = 1
    with pytest.raises(TransientError) as info:
        plain_sender(plain_server.port, attempts=3).send(RAW, "b@bridge.example.net", ["l@lists.example.org"])
    assert info.value.ambiguous
    assert handler.data_calls == 1  # a retry here could deliver the message twice


def test_read_smtp_reads_every_key_and_defaults_the_port_from_security() -> None:
    problems: list[str] = []
    settings = read_smtp(Section({"host": "smtp.example.org", "security": "tls", "username": "u",
                                  "password": {"env": "SMTP_PASSWORD"}, "timeout": 10}, "smtp", problems))
    assert problems == []
    assert (settings.port, settings.security, settings.timeout) == (465, "tls", 10.0)


def test_read_smtp_reports_plaintext_off_loopback_and_unknown_keys() -> None:
    problems: list[str] = []
    read_smtp(Section({"host": "smtp.example.org", "security": "plain", "colour": "red",
                       "username": "u"}, "smtp", problems))
    assert any("smtp.security" in p for p in problems)
    assert any("smtp.colour: unknown key" in p for p in problems)
    assert any("smtp.password" in p for p in problems)


def test_a_stop_request_ends_the_retries_and_their_waits_at_once() -> None:
    """Issue 13: SIGTERM must stop the daemon within seconds from any wait, a backoff between
    SMTP retries included (attempts 5, waits 2+4+8+16 s: half a minute before this fix)."""
    import threading

    from structlog.testing import capture_logs

    from bridge import stopping

    sender = SmtpSender(host="127.0.0.1", port=free_port(), security="plain", allow_plaintext=True,
                        timeout=2, attempts=5, retry_wait=2.0)
    failed: list[BaseException] = []

    def send() -> None:
        try:
            sender.send(b"Subject: x\r\n\r\nx\r\n", "a@example.org", ["b@example.org"])
        except BaseException as exc:  # the sender's own error is what the stage sees
            failed.append(exc)

    with capture_logs() as logs:
        worker = threading.Thread(target=send)
        worker.start()
        for _ in range(200):  # bounded: at most 10 s for the first retry's wait to begin
            if any(e["event"] == "smtp_send_retried" for e in logs) or not worker.is_alive():
                break
            worker.join(0.05)
        stopping.request_stop()  # what the daemon's SIGTERM handler does
        worker.join(10)
    assert not worker.is_alive()
    assert len(failed) == 1 and isinstance(failed[0], TransientError)
    assert sum(e["event"] == "smtp_send_retried" for e in logs) == 1  # no retry after the stop
