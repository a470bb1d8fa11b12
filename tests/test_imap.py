"""ImapMailbox against a real, private Dovecot: TLS, login, incremental fetch, \\Seen, IDLE."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dovecot import HOST, Account, DovecotServer, find_free_port
from imapclient.exceptions import LoginError
from structlog.testing import capture_logs

from bridge.adapters.imap import ImapMailbox, translate_error
from bridge.errors import AuthError, PermanentError, TransientError
from bridge.model import Cursor, FetchBatch, RawMail

MakeMailbox = Callable[..., ImapMailbox]
# Long enough that "raised before the timeout" means the dead link was detected, not waited out.
IDLE_TIMEOUT = 30.0


def make_message(n: int, body: str = "Does anyone know how to catalogue a zine?") -> bytes:
    return (
        f"From: Ann Example <ann@example.org>\r\nTo: list@example.org\r\n"
        f"Subject: question {n}\r\nMessage-ID: <q{n}@example.org>\r\n"
        f"Date: Mon, 03 Mar 2025 10:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()


def all_mails(batches: list[FetchBatch]) -> list[RawMail]:
    return [mail for batch in batches for mail in batch.mails]


@pytest.fixture
def make_mailbox(dovecot_server: DovecotServer) -> Iterator[MakeMailbox]:
    """Build ImapMailboxes (STARTTLS, CA-verified, fast retries by default); close them after."""
    opened: list[ImapMailbox] = []

    def build(account: Account, server: DovecotServer = dovecot_server,
              **options: Any) -> ImapMailbox:
        settings: dict[str, Any] = {
            "host": HOST, "port": server.port, "security": "starttls",
            "username": account.username, "password": lambda: account.password,
            "ca_file": str(server.certs.ca_file), "timeout": 10.0,
            "connect_attempts": 1, "retry_wait": 0.05,
        }
        settings.update(options)
        if "oauth2_token" in options:
            settings.pop("password")
        mailbox = ImapMailbox(**settings)
        opened.append(mailbox)
        return mailbox

    yield build
    for mailbox in opened:
        mailbox.close()


# -- transport security and login --------------------------------------------------------


def test_starttls_login_verifies_certificate_against_ca_file(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """STARTTLS + password login succeeds and returns the folder's real UIDVALIDITY."""
    with dovecot_server.admin(imap_account) as admin:
        expected = admin.select_folder("INBOX")[b"UIDVALIDITY"]
    assert make_mailbox(imap_account).connect() == expected


def test_imaps_login_verifies_certificate_against_ca_file(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """Implicit TLS (IMAPS) with the CA file connects and logs in."""
    mailbox = make_mailbox(imap_account, port=dovecot_server.tls_port, security="tls")
    assert mailbox.connect() > 0


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_untrusted_certificate_is_refused(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox,
        security: str) -> None:
    """Without our CA the self-signed chain fails verification: a PermanentError, no login."""
    port = dovecot_server.tls_port if security == "tls" else dovecot_server.port
    mailbox = make_mailbox(imap_account, port=port, security=security, ca_file=None)
    with pytest.raises(PermanentError, match="certificate not trusted"):
        mailbox.connect()


def test_wrong_password_raises_auth_error_without_leaking_it(
        imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """A refused login is an AuthError; neither the message nor the logs contain the secret."""
    secret = "wrong-" + imap_account.password
    mailbox = make_mailbox(imap_account, password=lambda: secret, connect_attempts=3)
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        mailbox.connect()
    assert "AUTHENTICATIONFAILED" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in repr(logs)
    assert not [e for e in logs if e["event"] == "imap_connect_retried"]  # auth is not retried


def test_xoauth2_login_uses_a_fresh_token_on_each_connect(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """XOAUTH2: Dovecot checks the bearer token with the introspection endpoint; the callable
    is asked for the token again at every connect."""
    dovecot_server.add_token("tok-a", imap_account)
    dovecot_server.add_token("tok-b", imap_account)
    tokens = iter(["tok-a", "tok-b"])
    mailbox = make_mailbox(imap_account, oauth2_token=lambda: next(tokens))
    mailbox.connect()
    mailbox.connect()
    assert dovecot_server.introspection.requests[-2:] == ["tok-a", "tok-b"]


def test_xoauth2_rejected_token_raises_auth_error_without_leaking_it(
        imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """An inactive token is refused by the server: AuthError, token not in the message."""
    mailbox = make_mailbox(imap_account, oauth2_token=lambda: "tok-revoked-123")
    with pytest.raises(AuthError) as caught:
        mailbox.connect()
    assert "tok-revoked-123" not in str(caught.value)


def test_plaintext_is_refused_for_a_non_loopback_host() -> None:
    """security=plain to a remote host is refused even with allow_plaintext (no connection)."""
    with pytest.raises(PermanentError, match="refusing plaintext"):
        ImapMailbox(host="imap.example.org", port=143, security="plain", username="u",
                    password=lambda: "p", allow_plaintext=True)


def test_plaintext_on_loopback_needs_allow_plaintext(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """On 127.0.0.1 plain is refused by default and works only with allow_plaintext=True."""
    with pytest.raises(PermanentError, match="refusing plaintext"):
        make_mailbox(imap_account, security="plain")
    assert make_mailbox(imap_account, security="plain", allow_plaintext=True).connect() > 0


def test_missing_folder_is_a_permanent_error(
        imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """Selecting a folder that does not exist is permanent (not retried as transient)."""
    with pytest.raises(PermanentError) as caught:
        make_mailbox(imap_account, folder="No/Such/Folder").connect()
    assert not isinstance(caught.value, AuthError)


def test_connect_retries_transient_failures_then_gives_up(make_mailbox: MakeMailbox) -> None:
    """Nothing listening: TransientError after exactly connect_attempts attempts."""
    account = Account("nobody", "unused")
    mailbox = make_mailbox(account, port=find_free_port(), connect_attempts=3)
    with capture_logs() as logs, pytest.raises(TransientError):
        mailbox.connect()
    retries = [e["attempt"] for e in logs if e["event"] == "imap_connect_retried"]
    assert retries == [1, 2]


def test_temporary_login_failure_is_transient() -> None:
    """RFC 5530 [UNAVAILABLE] on login means "later", not "bad credentials"."""
    error = translate_error(LoginError("b'[UNAVAILABLE] Temporary authentication failure.'"), "x")
    assert type(error) is TransientError
    assert type(translate_error(LoginError("[AUTHENTICATIONFAILED] no"), "x")) is AuthError


# -- fetching ----------------------------------------------------------------------------


def test_fetch_new_is_incremental_across_calls(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """The second call with the first call's cursor returns only messages appended since."""
    for n in (1, 2, 3):
        dovecot_server.append(imap_account, make_message(n))
    mailbox = make_mailbox(imap_account)
    mailbox.connect()
    first = list(mailbox.fetch_new(None))
    assert [m.uid for m in all_mails(first)] == [1, 2, 3]
    assert all_mails(first)[0].data.replace(b"\r\n", b"\n") == make_message(1).replace(
        b"\r\n", b"\n")
    assert all_mails(first)[2].source == "imap:INBOX uid 3"
    for n in (4, 5):
        dovecot_server.append(imap_account, make_message(n))
    second = list(mailbox.fetch_new(first[-1].cursor))
    assert [m.uid for m in all_mails(second)] == [4, 5]
    assert second[-1].cursor == Cursor("INBOX", first[-1].cursor.uidvalidity, 5)


def test_cursor_at_the_last_uid_yields_nothing(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """`UID SEARCH UID n:*` returns the last message even when its UID < n; it is filtered."""
    dovecot_server.append(imap_account, make_message(1))
    mailbox = make_mailbox(imap_account)
    uidvalidity = mailbox.connect()
    assert list(mailbox.fetch_new(Cursor("INBOX", uidvalidity, 1))) == []
    assert list(mailbox.fetch_new(Cursor("INBOX", uidvalidity, 7))) == []


def test_batches_hold_batch_size_uids_and_carry_their_cursor(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """Five messages in batches of two: cursors stop at UIDs 2, 4, 5."""
    for n in range(1, 6):
        dovecot_server.append(imap_account, make_message(n))
    mailbox = make_mailbox(imap_account, batch_size=2)
    mailbox.connect()
    batches = list(mailbox.fetch_new(None))
    assert [len(b.mails) for b in batches] == [2, 2, 1]
    assert [b.cursor.last_uid for b in batches] == [2, 4, 5]


def test_fetching_never_sets_seen(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """After a full fetch no message carries \\Seen (read-only select + BODY.PEEK[])."""
    for n in (1, 2):
        dovecot_server.append(imap_account, make_message(n))
    mailbox = make_mailbox(imap_account)
    mailbox.connect()
    assert len(all_mails(list(mailbox.fetch_new(None)))) == 2
    mailbox.close()
    with dovecot_server.admin(imap_account) as admin:
        admin.select_folder("INBOX", readonly=True)
        flags = admin.get_flags([1, 2])
    assert set(flags) == {1, 2}
    assert all(b"\\Seen" not in f for f in flags.values())


def test_oversized_message_is_recorded_as_problem_and_cursor_advances(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """A mail over max_message_bytes is not fetched, becomes a Problem, and is passed over."""
    dovecot_server.append(imap_account, make_message(1))
    dovecot_server.append(imap_account, make_message(2, body="x" * 3000))
    mailbox = make_mailbox(imap_account, max_message_bytes=1000)
    mailbox.connect()
    (batch,) = list(mailbox.fetch_new(None))
    assert [m.uid for m in batch.mails] == [1]
    (problem,) = batch.oversized
    assert problem.source == "imap:INBOX uid 2"
    assert "size" in problem.reason and problem.size > 3000
    assert batch.cursor.last_uid == 2
    assert list(mailbox.fetch_new(batch.cursor)) == []


def test_a_uid_gone_from_the_fetch_answer_is_recorded_not_skipped(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """A message expunged between SEARCH and FETCH is missing from the answer: before, the cursor
    passed over it and nothing was recorded; now its batch carries a problem for that UID."""
    for n in (1, 2, 3):
        dovecot_server.append(imap_account, make_message(n))
    mailbox = make_mailbox(imap_account, batch_size=1)
    mailbox.connect()
    batches = mailbox.fetch_new(None)
    first = next(batches)
    with dovecot_server.admin(imap_account) as admin:
        admin.select_folder("INBOX")
        admin.delete_messages([2])
        admin.expunge()
    second, third = next(batches), next(batches)
    assert [m.uid for m in first.mails + third.mails] == [1, 3]
    assert second.mails == () and second.cursor.last_uid == 2
    (problem,) = second.oversized
    assert problem.source == "imap:INBOX uid 2" and "FETCH answer" in problem.reason


def test_internaldate_is_fetched_as_the_date_fallback(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """INTERNALDATE (documented as the fallback for a missing Date) is fetched, in UTC."""
    from datetime import UTC, datetime, timedelta, timezone

    from bridge.mail.parse import parse_mail
    from bridge.model import Flag

    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=-5)))
    undated = b"From: a@example.org\r\nSubject: no date\r\nMessage-ID: <nd@example.org>\r\n\r\nhi\r\n"
    with dovecot_server.admin(imap_account) as admin:
        admin.append("INBOX", undated, msg_time=when)
    mailbox = make_mailbox(imap_account)
    mailbox.connect()
    (raw,) = all_mails(list(mailbox.fetch_new(None)))
    assert raw.internal_date == datetime(2026, 3, 4, 10, 6, 7, tzinfo=UTC)
    from bridge.stages.ingest import IngestPolicy, parse_raw

    (mail,) = parse_raw(raw, IngestPolicy())
    assert mail.date == raw.internal_date and Flag.DATE_MISSING in mail.flags
    assert parse_mail(raw.data)[0].date.year == 1980  # without it: the 1980 floor


def test_batches_are_bounded_by_bytes_and_only_a_head_of_a_huge_message_is_fetched(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """Memory is bounded by bytes, not count: big messages come in small batches, and of a
    message larger than MESSAGE_HEAD_BYTES only its head is fetched (its size is the full one)."""
    from bridge.mail.parse import MESSAGE_HEAD_BYTES

    line = "Our catalogue shows the serials twice; why?\r\n"
    for n in (1, 2, 3):
        dovecot_server.append(imap_account, make_message(n, body=line * (700_000 // len(line))))
    huge = make_message(4, body=line * ((MESSAGE_HEAD_BYTES + 500_000) // len(line)))
    dovecot_server.append(imap_account, huge)
    mailbox = make_mailbox(imap_account, batch_bytes=1_500_000)
    mailbox.connect()
    batches = list(mailbox.fetch_new(None))
    assert [[m.uid for m in b.mails] for b in batches] == [[1, 2], [3], [4]]
    big = batches[-1].mails[0]
    assert len(big.data) == MESSAGE_HEAD_BYTES and big.size == len(huge)
    assert big.data == huge[:MESSAGE_HEAD_BYTES]


def test_uidvalidity_change_restarts_from_uid_1(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """Folder deleted and recreated (new UIDVALIDITY): an old cursor means a resync from UID 1."""
    for n in (1, 2, 3):
        dovecot_server.append(imap_account, make_message(n), folder="Lists")
    mailbox = make_mailbox(imap_account, folder="Lists")
    mailbox.connect()
    old_cursor = list(mailbox.fetch_new(None))[-1].cursor
    mailbox.close()
    with dovecot_server.admin(imap_account) as admin:
        admin.delete_folder("Lists")
        admin.create_folder("Lists")
    dovecot_server.append(imap_account, make_message(9), folder="Lists")
    new_uidvalidity = mailbox.connect()
    assert new_uidvalidity != old_cursor.uidvalidity
    with capture_logs() as logs:
        batches = list(mailbox.fetch_new(old_cursor))
    assert [m.uid for m in all_mails(batches)] == [1]
    assert b"<q9@example.org>" in all_mails(batches)[0].data
    assert batches[-1].cursor == Cursor("Lists", new_uidvalidity, 1)
    assert "imap_cursor_reset" in [e["event"] for e in logs]


# -- IDLE --------------------------------------------------------------------------------


def test_mail_appended_by_another_connection_is_announced_via_idle(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """wait_for_mail returns True when another client appends; the link then fetches it."""
    mailbox = make_mailbox(imap_account)
    mailbox.connect()
    assert list(mailbox.fetch_new(None)) == []
    appender = threading.Timer(0.5, dovecot_server.append, (imap_account, make_message(1)))
    appender.start()
    try:
        with capture_logs() as logs:
            assert mailbox.wait_for_mail(timeout=20) is True
    finally:
        appender.join()
    assert "imap_idle_started" in [e["event"] for e in logs]  # it came through IDLE
    assert [m.uid for m in all_mails(list(mailbox.fetch_new(None)))] == [1]


def test_mail_that_arrived_before_idle_is_reported_at_once(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """Mail appended after fetch_new but before wait_for_mail is not missed until the timeout."""
    mailbox = make_mailbox(imap_account)
    mailbox.connect()
    assert list(mailbox.fetch_new(None)) == []
    dovecot_server.append(imap_account, make_message(1))
    with capture_logs() as logs:
        assert mailbox.wait_for_mail(timeout=IDLE_TIMEOUT) is True
    # Found before any IDLE: Dovecot may announce such mail only when the IDLE ends.
    assert "imap_idle_started" not in [e["event"] for e in logs]


def test_idle_without_mail_returns_false_and_reissues_idle(
        dovecot_server: DovecotServer, imap_account: Account, make_mailbox: MakeMailbox) -> None:
    """No mail: False after the timeout, IDLE re-issued every idle_seconds; link still usable."""
    mailbox = make_mailbox(imap_account, idle_seconds=0.3)
    mailbox.connect()
    with capture_logs() as logs:
        assert mailbox.wait_for_mail(timeout=1.0) is False
    assert len([e for e in logs if e["event"] == "imap_idle_started"]) >= 3
    dovecot_server.append(imap_account, make_message(1))
    assert [m.uid for m in all_mails(list(mailbox.fetch_new(None)))] == [1]


def test_server_restart_during_idle_raises_transient_then_fetch_reconnects(
        private_dovecot: DovecotServer, make_mailbox: MakeMailbox) -> None:
    """A restart mid-IDLE surfaces as TransientError before the timeout (no silent spin);
    the next fetch_new reconnects by itself and reads mail appended after the restart."""
    account = private_dovecot.add_user()
    private_dovecot.append(account, make_message(1))
    mailbox = make_mailbox(account, server=private_dovecot, connect_attempts=5)
    mailbox.connect()
    cursor = list(mailbox.fetch_new(None))[-1].cursor
    restarter = threading.Timer(0.5, private_dovecot.restart)
    restarter.start()
    started = time.monotonic()
    try:
        with pytest.raises(TransientError):
            mailbox.wait_for_mail(timeout=IDLE_TIMEOUT)
    finally:
        restarter.join()
    assert time.monotonic() - started < IDLE_TIMEOUT / 2  # noticed, not waited out
    private_dovecot.append(account, make_message(2))
    assert [m.uid for m in all_mails(list(mailbox.fetch_new(cursor)))] == [2]


@pytest.mark.parametrize(("sig", "message"), [(signal.SIGKILL, "EOF"), (signal.SIGTERM, "BYE")])
def test_killed_session_during_idle_raises_transient_error(
        private_dovecot: DovecotServer, make_mailbox: MakeMailbox, sig: int, message: str) -> None:
    """A session killed mid-IDLE is detected before the timeout: SIGKILL gives a bare EOF
    (where idle_check returns [] forever), SIGTERM makes Dovecot say BYE first. Then
    connect() gives a working link again."""
    account = private_dovecot.add_user()
    mailbox = make_mailbox(account, server=private_dovecot)
    mailbox.connect()
    killed: list[int] = []
    killer = threading.Timer(
        0.5, lambda: killed.extend(private_dovecot.kill_sessions(account, sig)))
    killer.start()
    started = time.monotonic()
    try:
        with pytest.raises(TransientError, match=message):
            mailbox.wait_for_mail(timeout=IDLE_TIMEOUT)
    finally:
        killer.join()
    assert killed
    assert time.monotonic() - started < IDLE_TIMEOUT / 2  # noticed, not spun until the timeout
    mailbox.connect()
    private_dovecot.append(account, make_message(1))
    assert [m.uid for m in all_mails(list(mailbox.fetch_new(None)))] == [1]


def test_server_without_idle_is_polled(
        make_dovecot: Callable[..., DovecotServer], make_mailbox: MakeMailbox) -> None:
    """A server that does not offer IDLE: wait_for_mail polls with NOOP + SEARCH instead."""
    server = make_dovecot(extra_config="imap_capability = IMAP4rev1 LITERAL+ SASL-IR\n")
    account = server.add_user()
    mailbox = make_mailbox(account, server=server, idle_seconds=0.2)
    mailbox.connect()
    with capture_logs() as logs:
        assert mailbox.wait_for_mail(timeout=0.5) is False
    assert "imap_idle_started" not in [e["event"] for e in logs]
    appender = threading.Timer(0.3, server.append, (account, make_message(1)))
    appender.start()
    try:
        assert mailbox.wait_for_mail(timeout=IDLE_TIMEOUT) is True
    finally:
        appender.join()
    assert [m.uid for m in all_mails(list(mailbox.fetch_new(None)))] == [1]


def test_a_non_ascii_password_logs_in_with_sasl_plain(
        dovecot_server: DovecotServer, make_mailbox: MakeMailbox) -> None:
    """Issue 13: LOGIN cannot carry "pässwörd€" (imaplib raised UnicodeEncodeError); AUTHENTICATE
    PLAIN sends it as UTF-8, and a wrong one is refused as an AuthError, not a crash."""
    account = dovecot_server.add_user("utf8", password="pässwörd-€-日本")
    assert make_mailbox(account).connect() > 0  # logged in and selected the folder
    wrong = make_mailbox(account, password=lambda: "pässwörd-falsch")
    with pytest.raises(AuthError):
        wrong.connect()
