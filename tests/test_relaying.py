"""The relaying stage over a real SQLite store and a real aiosmtpd server: batching, retries,
crash safety (kill at each durable step, restart over the same file) and the echo."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from smtp_server import RecordingHandler, SmtpServer, free_port, plain_sender
from structlog.testing import capture_logs

from bridge.adapters.smtp import SmtpSender
from bridge.compose.relay_email import RelaySettings
from bridge.errors import AuthError, TransientError
from bridge.mail.echo import is_our_relay
from bridge.model import Author, Flag, Mail
from bridge.stages.relay import RelayReport, create_relay, echo_settings, relay_approved, relay_key
from bridge.store.db import Store, to_epoch
from bridge.store.mail import MailStore

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
SETTINGS = RelaySettings("bridge@bridge.example.net", "solo@lists.example.org", "pat@bridge.example.net",
                         batch_window=timedelta(minutes=30), resend_grace=timedelta(minutes=30))


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except-clause of the stage catches it."""


class CrashingSender:
    """Dies before the SMTP transaction ("before") or after the server took the mail ("after")."""

    def __init__(self, real: SmtpSender, when: str) -> None:
        self.real, self.when = real, when

    def send(self, raw: bytes, from_addr: str, to_addrs: Sequence[str]) -> None:
        if self.when == "after":
            self.real.send(raw, from_addr, to_addrs)
        raise Killed


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    store = Store.open(path)
    add_mail(store, question("q1@lists.example.org", "[Solo] Cataloguing software?"))
    add_mail(store, question("q2@lists.example.org", "Weeding policy"))
    store.close()
    return path


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    store = Store.open(db)
    yield store
    store.close()


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def server(handler: RecordingHandler) -> Iterator[SmtpServer]:
    with SmtpServer(handler) as running:
        yield running


def question(message_id: str, subject: str) -> Mail:
    return Mail(message_id, subject, subject.lower(), False, Author("Ann", "ann@library.example.org"),
                T0 - timedelta(days=2), None, ())


def add_mail(store: Store, mail: Mail) -> None:
    mailstore = MailStore(store)
    with store.transaction():
        mailstore.add_mail(mail, "test")
        mailstore.flush()


def add_reply(store: Store, reply_id: str, root: str, fetched: datetime, name: str = "Jane Doe",
              username: str = "jane", text: str = "Try Koha.") -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO replies(reply_id, root_id, post_id, author_id, author_username, author_name, "
            "text, url, created_at, status, fetched_at) "
            "VALUES (?, ?, 'p1', 'u1', ?, ?, ?, ?, ?, 'approved', ?)",
            (reply_id, root, username, name, text, f"https://x.com/{username}/status/{reply_id}",
             to_epoch(fetched), to_epoch(fetched)))


def relays(store: Store) -> list[tuple[str, str, str]]:
    return [(str(r[0]), str(r[1]), str(r[2])) for r in store.conn.execute(
        "SELECT message_id, root_id, status FROM relays ORDER BY created_at, root_id")]


def reply_states(store: Store) -> dict[str, tuple[str, str | None]]:
    rows = store.conn.execute("SELECT reply_id, status, relay_id FROM replies")
    return {str(r[0]): (str(r[1]), r[2]) for r in rows}


def test_replies_within_the_batch_window_go_out_as_one_email_per_thread(
        store: Store, server: SmtpServer, handler: RecordingHandler) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    add_reply(store, "2", "q1@lists.example.org", T0 + timedelta(minutes=10), "Bob Roe", "bobroe",
              "LibraryThing")
    add_reply(store, "3", "q2@lists.example.org", T0 + timedelta(minutes=5))
    sender = plain_sender(server.port)
    assert relay_approved(store, sender, SETTINGS, T0 + timedelta(minutes=20)).created == 0
    report = relay_approved(store, sender, SETTINGS, T0 + timedelta(minutes=40))
    assert (report.created, report.sent) == (2, 2)
    mails = {m["In-Reply-To"]: m for m in (message_from_bytes(c) for _, _, c in handler.delivered)}
    q1 = mails["<q1@lists.example.org>"]
    assert "Replies from X via" in q1["From"] and "LibraryThing" in q1.get_payload(decode=True).decode()
    assert [r[2] for r in relays(store)] == ["sent", "sent"]
    assert {s for s, _ in reply_states(store).values()} == {"relayed"}


def test_the_stored_bytes_are_exactly_what_the_server_received(
        store: Store, server: SmtpServer, handler: RecordingHandler) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    relay_approved(store, plain_sender(server.port), SETTINGS, T0 + timedelta(hours=1))
    raw, message_id = store.conn.execute("SELECT raw, message_id FROM relays").fetchone()
    assert handler.delivered[0][2].rstrip(b"\r\n") == bytes(raw).rstrip(b"\r\n")
    assert reply_states(store)["1"] == ("relayed", message_id)
    assert handler.delivered[0][:2] == ("bridge@bridge.example.net", ["solo@lists.example.org"])


def test_smtp_down_stays_pending_then_is_sent_exactly_once(store: Store, handler: RecordingHandler) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    port = free_port()
    down = relay_approved(store, plain_sender(port, attempts=2), SETTINGS, T0 + timedelta(hours=1))
    assert (down.created, down.sent, down.deferred) == (1, 0, 1)
    assert relays(store)[0][2] == "pending"
    with SmtpServer(handler, port=port):
        early = relay_approved(store, plain_sender(port), SETTINGS, T0 + timedelta(hours=1, minutes=1))
        assert early.sent == 0 and handler.delivered == []  # next_attempt_at not reached
        later = relay_approved(store, plain_sender(port), SETTINGS, T0 + timedelta(hours=2))
        again = relay_approved(store, plain_sender(port), SETTINGS, T0 + timedelta(hours=3))
    assert (later.sent, again.sent, len(handler.delivered)) == (1, 0, 1)
    assert relays(store)[0][2] == "sent"


def test_a_5xx_marks_the_relay_failed_reports_it_and_never_retries(
        store: Store, server: SmtpServer, handler: RecordingHandler) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    handler.data_replies = ["554 5.7.1 not allowed to post"]
    with capture_logs() as logs:
        report = relay_approved(store, plain_sender(server.port), SETTINGS, T0 + timedelta(hours=1))
    assert len(report.failed) == 1 and "554" in report.failed[0]
    assert relays(store)[0][2] == "failed"
    assert any(e["event"] == "relay_failed" for e in logs)
    relay_approved(store, plain_sender(server.port), SETTINGS, T0 + timedelta(days=1))
    assert handler.data_calls == 1 and handler.delivered == []


def test_a_4xx_is_retried_and_the_relay_goes_out_once(
        store: Store, server: SmtpServer, handler: RecordingHandler) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    handler.data_replies = ["451 4.3.0 greylisted"]
    report = relay_approved(store, plain_sender(server.port, attempts=3), SETTINGS, T0 + timedelta(hours=1))
    assert report.sent == 1 and len(handler.delivered) == 1


def test_killed_after_the_row_is_written_but_before_any_attempt_sends_at_restart(
        db: Path, server: SmtpServer, handler: RecordingHandler) -> None:
    store = Store.open(db)
    add_reply(store, "1", "q1@lists.example.org", T0)
    now = T0 + timedelta(hours=1)
    message_id = create_relay(store, "q1@lists.example.org", SETTINGS, now, relay_key(store, SETTINGS),
                              RelayReport())
    store.close()  # killed here: the row is pending, no attempt was claimed
    restarted = Store.open(db)
    report = relay_approved(restarted, plain_sender(server.port), SETTINGS, now)
    assert report.sent == 1 and report.created == 0
    assert message_from_bytes(handler.delivered[0][2])["Message-ID"] == f"<{message_id}>"


def test_killed_during_the_send_waits_the_grace_period_then_sends_once(
        db: Path, server: SmtpServer, handler: RecordingHandler) -> None:
    store = Store.open(db)
    add_reply(store, "1", "q1@lists.example.org", T0)
    now = T0 + timedelta(hours=1)
    with pytest.raises(Killed):
        relay_approved(store, CrashingSender(plain_sender(server.port), "before"), SETTINGS, now)
    store.close()
    restarted = Store.open(db)
    soon = relay_approved(restarted, plain_sender(server.port), SETTINGS, now + timedelta(minutes=5))
    assert soon.sent == 0 and handler.delivered == []  # an attempt may be in flight: wait
    after = relay_approved(restarted, plain_sender(server.port), SETTINGS, now + timedelta(minutes=31))
    assert after.sent == 1 and len(handler.delivered) == 1
    assert reply_states(restarted)["1"][0] == "relayed"


def test_killed_after_the_server_took_it_the_echo_marks_it_sent_and_nothing_is_resent(
        db: Path, server: SmtpServer, handler: RecordingHandler) -> None:
    store = Store.open(db)
    add_reply(store, "1", "q1@lists.example.org", T0)
    now = T0 + timedelta(hours=1)
    with pytest.raises(Killed):
        relay_approved(store, CrashingSender(plain_sender(server.port), "after"), SETTINGS, now)
    store.close()
    restarted = Store.open(db)
    soon = relay_approved(restarted, plain_sender(server.port), SETTINGS, now + timedelta(minutes=1))
    assert soon.sent == 0
    (message_id, _, status), = relays(restarted)
    assert status == "pending"
    # The list delivers our relay back; ingest stores it (flagged ours) under the question.
    echo = Mail(message_id, "Re: [Solo] Cataloguing software?", "cataloguing software?", True,
                Author("Jane", "bridge@bridge.example.net"), now, "q1@lists.example.org",
                ("q1@lists.example.org",), flags=frozenset({Flag.OURS}))
    add_mail(restarted, echo)
    report = relay_approved(restarted, plain_sender(server.port), SETTINGS, now + timedelta(days=1))
    assert (report.echoed, report.sent) == (1, 0)
    assert relays(restarted)[0][2] == "sent" and len(handler.delivered) == 1
    assert reply_states(restarted)["1"][0] == "relayed"
    [thread] = [t for t in MailStore(restarted).threads() if t.root.message_id == "q1@lists.example.org"]
    assert thread.state == "answered_via_x"


def test_without_an_echo_a_relay_of_unknown_outcome_is_resent_once_after_the_grace(
        db: Path, server: SmtpServer, handler: RecordingHandler) -> None:
    """The documented residual risk: a taken relay whose echo never comes is sent a second time."""
    store = Store.open(db)
    add_reply(store, "1", "q1@lists.example.org", T0)
    now = T0 + timedelta(hours=1)
    with pytest.raises(Killed):
        relay_approved(store, CrashingSender(plain_sender(server.port), "after"), SETTINGS, now)
    store.close()
    restarted = Store.open(db)
    for minutes in (31, 62, 120):
        relay_approved(restarted, plain_sender(server.port), SETTINGS, now + timedelta(minutes=minutes))
    assert len(handler.delivered) == 2 and relays(restarted)[0][2] == "sent"


def test_connection_lost_during_data_waits_for_the_echo_instead_of_resending(
        store: Store, server: SmtpServer, handler: RecordingHandler) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    handler.drop_on_data = 1
    now = T0 + timedelta(hours=1)
    report = relay_approved(store, plain_sender(server.port, attempts=3), SETTINGS, now)
    assert report.uncertain == 1 and handler.data_calls == 1
    assert relay_approved(store, plain_sender(server.port), SETTINGS, now + timedelta(minutes=10)).sent == 0
    assert handler.data_calls == 1


def test_one_bad_reply_is_held_with_a_reason_and_the_others_are_relayed(
        store: Store, server: SmtpServer, handler: RecordingHandler) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    add_reply(store, "2", "q1@lists.example.org", T0, name="\u202e\r\n\x00", username="bad handle!")
    report = relay_approved(store, plain_sender(server.port), SETTINGS, T0 + timedelta(hours=1))
    assert (report.held, report.sent) == (1, 1)
    reason = store.conn.execute("SELECT reason FROM replies WHERE reply_id = '2'").fetchone()[0]
    assert reply_states(store)["2"][0] == "held" and "author name" in reason
    assert reply_states(store)["1"][0] == "relayed"


def test_replies_to_a_question_missing_from_the_store_are_held(store: Store, server: SmtpServer) -> None:
    add_reply(store, "1", "gone@lists.example.org", T0)
    report = relay_approved(store, plain_sender(server.port), SETTINGS, T0 + timedelta(hours=1))
    assert report.held == 1 and reply_states(store)["1"] == ("held", None)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_refused_login_keeps_the_relay_pending_and_is_raised(store: Store, handler: RecordingHandler) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    with SmtpServer(handler, auth=True) as server:
        sender = plain_sender(server.port, username="bridge", password=lambda: "wrong")
        with pytest.raises(AuthError):
            relay_approved(store, sender, SETTINGS, T0 + timedelta(hours=1))
    assert relays(store)[0][2] == "pending"


def test_a_relay_never_delivered_within_give_up_after_is_marked_failed(store: Store) -> None:
    add_reply(store, "1", "q1@lists.example.org", T0)
    sender = plain_sender(free_port(), attempts=1)
    relay_approved(store, sender, SETTINGS, T0 + timedelta(hours=1))
    report = relay_approved(store, sender, SETTINGS, T0 + timedelta(days=4))
    assert len(report.failed) == 1 and relays(store)[0][2] == "failed"


def test_the_token_key_survives_a_restart_and_the_sent_relay_is_recognised_as_ours(
        db: Path, server: SmtpServer, handler: RecordingHandler) -> None:
    store = Store.open(db)
    add_reply(store, "1", "q1@lists.example.org", T0)
    relay_approved(store, plain_sender(server.port), SETTINGS, T0 + timedelta(hours=1))
    key = relay_key(store, SETTINGS)
    store.close()
    restarted = Store.open(db)
    assert relay_key(restarted, SETTINGS) == key
    headers = message_from_bytes(handler.delivered[0][2])
    assert is_our_relay(headers, set(), echo_settings(restarted, SETTINGS))  # by token alone
    assert MailStore(restarted).is_relay_id(str(headers["Message-ID"]).strip("<>"))
    assert not MailStore(restarted).is_relay_id("q1@lists.example.org")


class VagueSender:
    """Fails with a transient error that does not say whether the server took the mail."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, raw: bytes, from_addr: str, to_addrs: Sequence[str]) -> None:
        self.calls += 1
        raise TransientError("the server said something we do not understand")


def test_an_unknown_transient_failure_waits_for_the_echo_like_the_publisher_does(store: Store) -> None:
    """One rule with the publisher (bridge.errors.is_ambiguous): an unknown failure may have been
    delivered, so the lease is kept for the grace period instead of a quick resend."""
    add_reply(store, "1", "q1@lists.example.org", T0)
    sender = VagueSender()
    now = T0 + timedelta(hours=1)
    report = relay_approved(store, sender, SETTINGS, now)
    assert (report.uncertain, report.deferred) == (1, 0)
    relay_approved(store, sender, SETTINGS, now + timedelta(minutes=10))
    assert sender.calls == 1
