"""Approval by email end to end, cycle by cycle: the real Dovecot holds the list mail and the
moderators' answers, aiosmtpd receives the requests (and relays), the fake X takes the posts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import format_datetime
from pathlib import Path

import pytest
from dovecot import Account, DovecotServer
from fake_x import FakeUser, FakeX
from smtp_server import RecordingHandler, SmtpServer

from bridge.cli.build import build_services
from bridge.cli.moderate import run_moderate
from bridge.cli.ops import collect_status, print_status, run_checks
from bridge.cli.release import run_release
from bridge.compose.links import mailman_hash
from bridge.config.settings import Config, parse_config
from bridge.decide.approval import MODERATION_PREFIX
from bridge.service.pipeline import ANSWER_POLL, Bridge, CycleReport
from bridge.store.db import Store
from bridge.store.posts import Candidate, hold

NOW = datetime.now(UTC).replace(microsecond=0)
MODERATOR = "owner@lists.example.org"
LIST = "sla-dsol@lists.example.org"
BRIDGE = "bridge@bridge.example.net"
KEYS = {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "bot-token",
        "access_token_secret": "ats"}


def question(n: int) -> bytes:
    return (f"Message-ID: <q{n}@members.example.org>\r\nFrom: Ann Member <ann@members.example.org>\r\n"
            f"To: {LIST}\r\nDate: {format_datetime(NOW - timedelta(days=3))}\r\n"
            f"Subject: How do I renew serial {n} in Koha?\r\n"
            "List-Id: <sla-dsol.lists.example.org>\r\nArchived-At: <https://lists.example.org/"
            f"archives/list/{LIST}/message/{mailman_hash(f'q{n}@members.example.org')}/>\r\n\r\n"
            f"Hello, our serial {n} lapsed. How do I renew the subscription in Koha?\r\n").encode()


def answer(request: bytes, first_line: str, *, sender: str = f"Olive Owner <{MODERATOR}>",
           subject: str | None = None, n: int = 1) -> bytes:
    """A moderator's reply as a mail client writes it: Re: subject, In-Reply-To, quoted request."""
    req = message_from_bytes(request, policy=policy.default)
    quoted = "\r\n".join(f"> {line}" for line in req.get_content().splitlines())
    subject = subject if subject is not None else f"Re: {req['Subject']}"
    return (f"Message-ID: <answer{n}@lists.example.org>\r\nFrom: {sender}\r\nTo: {BRIDGE}\r\n"
            f"Date: {format_datetime(NOW)}\r\nSubject: {subject}\r\n"
            f"In-Reply-To: {req['Message-ID']}\r\nReferences: {req['Message-ID']}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{first_line}\r\n\r\nOn {format_datetime(NOW)}, the bridge wrote:\r\n{quoted}\r\n"
            ).encode()


@dataclass
class World:
    bridge: Bridge
    fake: FakeX
    bot: FakeUser
    handler: RecordingHandler
    dovecot: DovecotServer
    account: Account
    db: str

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        self.dovecot.append(self.account, raw, folder=folder)

    def cycle(self, minutes: float) -> CycleReport:
        report = self.bridge.cycle(NOW + timedelta(minutes=minutes))
        assert report.ok, report.errors
        return report

    def requests(self) -> list[bytes]:
        return [raw for _, rcpts, raw in self.handler.delivered if rcpts == [MODERATOR]]

    def posts(self) -> list[str]:
        return [p.text for p in self.fake.posts_by(self.bot)]

    def one(self, sql: str, *args: object) -> tuple[object, ...]:
        row = self.bridge.store.conn.execute(sql, args).fetchone()
        assert row is not None, sql
        return tuple(row)


def make_config(tmp_path: Path, dovecot: DovecotServer, account: Account, smtp_port: int,
                x_url: str, approval: str, **moderation: object) -> Config:
    return parse_config({
        "store": {"path": str(tmp_path / "bridge.sqlite3")},
        "imap": {"host": "127.0.0.1", "port": dovecot.port, "security": "starttls",
                 "ca_file": str(dovecot.certs.ca_file), "username": account.username,
                 "password": {"env": "APPROVAL_TEST_IMAP"}, "timeout": "5s"},
        "matcher": {"unanswered_after": "48h"},
        "publish": {"min_spacing": "0s", "mass_new_threshold": 1},
        "replies": {"min_poll_interval": "5s"},
        "moderation": {"moderators": [MODERATOR], "approval": approval,
                       "approval_expiry": "1d", **moderation},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "plain",
                 "allow_plaintext": True, "timeout": 5, "retry_wait": 0.01},
        "x": {"api_base_url": x_url, "timeout": "5s",
              **{name: {"env": f"APPROVAL_TEST_{name.upper()}"} for name in KEYS}},
        "relay": {"from_address": BRIDGE, "list_address": LIST, "admin_contact": BRIDGE,
                  "batch_window": "1s", "resend_grace": "30m", "retry_base": "5m"},
    }, "test")


@pytest.fixture
def make_world(tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("APPROVAL_TEST_IMAP", imap_account.password)
    for name, value in KEYS.items():
        monkeypatch.setenv(f"APPROVAL_TEST_{name.upper()}", value)
    handler = RecordingHandler()
    worlds: list[World] = []
    with FakeX() as fake, SmtpServer(handler) as smtp:
        bot = fake.add_user("solobridge", "Solo Librarians Bridge", access_token="bot-token")

        def make(approval: str = "all", **moderation: object) -> World:
            config = make_config(tmp_path, dovecot_server, imap_account, smtp.port, fake.base_url,
                                 approval, **moderation)
            services = build_services(config)  # as the daemon builds them
            store = Store.open(config.db_path())
            world = World(Bridge(config, store, services), fake, bot, handler, dovecot_server,
                          imap_account, config.db_path())
            worlds.append(world)
            return world

        yield make
        for world in worlds:
            for box in (world.bridge.services.mailbox, world.bridge.services.approval_mailbox):
                if box is not None:
                    box.close()
            world.bridge.store.close()


def held_and_requested(world: World) -> bytes:
    world.deliver(question(1))
    world.cycle(0)
    assert world.posts() == []
    assert world.one("SELECT status FROM posts WHERE root_id = 'q1@members.example.org'") == ("held",)
    [request] = world.requests()
    return request


def test_round_trip_held_post_email_approve_with_quoted_text_then_posted(make_world: object) -> None:
    world: World = make_world()  # type: ignore[operator]
    request = held_and_requested(world)
    text = world.one("SELECT text FROM posts")[0]
    body = message_from_bytes(request, policy=policy.default).get_content()
    assert str(text) in body and f"message/{mailman_hash('q1@members.example.org')}/" in body
    world.deliver(answer(request, "Approve"))  # the quoted request below says "reject" too
    world.cycle(1)  # ingest reads the answer; the approval stage queues the post
    assert world.one("SELECT status, reason FROM approval_answers") == (
        "applied", f"approved by {MODERATOR} by email")
    world.cycle(2)  # the next cycle publishes it within the caps
    [posted] = world.posts()  # X shortens the link; the words are exactly those the moderator saw
    assert posted.rsplit(" ", 1)[0] == str(text).rsplit(" ", 1)[0]
    assert world.one("SELECT status FROM posts") == ("confirmed",)
    # the answer never became list mail, and nothing is sent twice
    assert world.one("SELECT COUNT(*) FROM messages") == (1,)
    assert world.one("SELECT COUNT(*) FROM threads") == (1,)
    world.cycle(3)
    assert len(world.posts()) == 1 and len(world.requests()) == 1


def test_reject_is_never_posted(make_world: object) -> None:
    world: World = make_world()  # type: ignore[operator]
    request = held_and_requested(world)
    world.deliver(answer(request, "REJECT: an ad"))
    world.cycle(1)
    world.cycle(2)
    world.cycle(60 * 30)
    assert world.posts() == []
    assert world.one("SELECT status, reason FROM posts") == ("failed", f"rejected by {MODERATOR} by email")
    out = io.StringIO()
    assert run_release(world.db, ["q1@members.example.org"], False, out) == 1  # not held any more


def test_a_non_moderator_and_a_forged_token_are_ignored(make_world: object) -> None:
    world: World = make_world()  # type: ignore[operator]
    request = held_and_requested(world)
    world.deliver(answer(request, "Approve", sender="Eve <eve@members.example.org>", n=1))
    forged = answer(request, "Approve", subject=f"Re: Approve? [lsb-approval:{'0' * 32}]", n=2)
    forged = forged.replace(b"In-Reply-To: <", b"X-Was-In-Reply-To: <").replace(
        b"References: <", b"X-Was-References: <")
    world.deliver(forged)
    world.cycle(1)
    world.cycle(2)
    assert world.posts() == []
    reasons = dict(world.bridge.store.conn.execute(
        "SELECT message_id, reason FROM approval_answers WHERE status = 'ignored'").fetchall())
    assert reasons == {"answer1@lists.example.org": "not from a moderator (eve@members.example.org)",
                       "answer2@lists.example.org": "no request has this token"}
    assert world.one("SELECT status FROM posts") == ("held",)
    assert world.one("SELECT COUNT(*) FROM messages") == (1,)  # neither became list mail


def test_an_unanswered_request_expires_with_a_reason_and_a_late_answer_changes_nothing(
    make_world: object,
) -> None:
    world: World = make_world()  # type: ignore[operator]
    request = held_and_requested(world)
    world.cycle(60 * 24 + 1)  # approval_expiry = 1d
    assert world.one("SELECT status, reason FROM approval_requests") == (
        "expired", "no moderator answered within 1 days")
    assert "approval expired" in str(world.one("SELECT reason FROM posts")[0])
    out = io.StringIO()
    print_status(collect_status(world.bridge.store, world.bridge.config, NOW), out, as_json=False)
    assert ("approval expired: post q1@members.example.org: no moderator answered within 1 days"
            in out.getvalue())
    listing = io.StringIO()
    assert run_release(world.db, [], False, listing) == 0  # the admin's list says it too
    assert "approval by email: expired (no moderator answered within 1 days)" in listing.getvalue()
    world.deliver(answer(request, "approve"))
    world.cycle(60 * 24 + 2)
    world.cycle(60 * 24 + 3)
    assert world.posts() == []
    assert world.one("SELECT reason FROM approval_answers") == ("the request is already expired",)


def test_the_cli_still_decides_and_closes_the_open_request(make_world: object) -> None:
    world: World = make_world()  # type: ignore[operator]
    request = held_and_requested(world)
    out = io.StringIO()
    assert run_release(world.db, [], True, out) == 0
    world.cycle(16)  # a release from another process is seen at the daemon's periodic check
    assert len(world.posts()) == 1
    assert world.one("SELECT status FROM approval_requests") == ("closed",)
    world.deliver(answer(request, "reject"))
    world.cycle(17)
    assert world.one("SELECT reason FROM approval_answers") == ("the request is already closed",)


def test_a_held_reply_from_x_is_approved_by_email_and_relayed(make_world: object) -> None:
    world: World = make_world("held")  # type: ignore[operator]
    world.deliver(question(1))
    world.cycle(0)
    [post] = world.fake.posts_by(world.bot)  # approval = "held": a clear post goes out
    helper = world.fake.add_user("koha_helper", "Kim Helper", created_at=NOW - timedelta(days=400))
    world.fake.add_reply(post.id, helper, "Renew it under Serials > Subscriptions, see "
                                          "https://koha.example.org/manual/serials")
    world.cycle(10)  # the reply is held (it has a link) and a request goes to the moderators
    assert world.one("SELECT status FROM replies") == ("held",)
    [request] = world.requests()
    assert "Kim Helper (@koha_helper)" in message_from_bytes(request, policy=policy.default).get_content()
    listing = io.StringIO()
    assert run_moderate(world.bridge.store, "list", [], listing, NOW) == 0
    assert "approval by email: sent to the moderators, open until" in listing.getvalue()
    world.deliver(answer(request, "approve"))
    world.cycle(11)
    world.cycle(12)
    relays = [raw for _, rcpts, raw in world.handler.delivered if rcpts == [LIST]]
    assert len(relays) == 1 and b"Subscriptions" in relays[0]
    out = io.StringIO()
    assert run_moderate(world.bridge.store, "list", [], out, NOW) == 0 and "no held replies" in out.getvalue()


def test_held_by_the_mass_new_guard_in_held_mode_and_answered_in_a_folder_of_its_own(
    make_world: object,
) -> None:
    world: World = make_world("held", approval_folder="Approvals")  # type: ignore[operator]

    def folder_check() -> bool:
        results = run_checks(world.bridge.config, world.db)
        return next(r.ok for r in results if r.name == "IMAP approval folder")

    assert not folder_check()  # `check` tells the admin before the daemon trips over it
    with world.dovecot.admin(world.account) as admin:
        admin.create_folder("Approvals")
    assert folder_check()
    world.deliver(question(1))
    world.deliver(question(2))  # two surprises over a threshold of 1: both held
    report = world.cycle(0)
    assert world.posts() == [] and len(world.requests()) == 2
    assert report.next_wake == NOW + ANSWER_POLL  # no IDLE on that folder: it is polled
    body = message_from_bytes(world.requests()[0], policy=policy.default).get_content()
    assert "mass-new guard" in body
    first, second = world.requests()
    world.deliver(answer(first, "approve"), folder="Approvals")
    world.deliver(answer(second, "approve", n=2))  # one that strayed into the list folder counts too
    world.cycle(1)
    world.cycle(2)
    assert len(world.posts()) == 2
    assert world.one("SELECT COUNT(*) FROM approval_answers WHERE status = 'applied'") == (2,)
    assert world.one("SELECT COUNT(*) FROM messages") == (2,)  # neither became list mail
    cursors = dict(world.bridge.store.conn.execute("SELECT folder, last_uid FROM cursors").fetchall())
    assert cursors == {"INBOX": 3, "Approvals": 1}


def test_a_refused_request_is_retried_after_the_backoff_and_sent_once(make_world: object) -> None:
    world: World = make_world()  # type: ignore[operator]
    world.handler.data_replies.extend(["451 try again later"] * 3)  # every try the adapter makes
    world.deliver(question(1))
    world.cycle(0)
    assert world.requests() == []
    row = world.one("SELECT send_status, attempts, error FROM approval_requests")
    assert row[:2] == ("pending", 1) and "451" in str(row[2])
    world.cycle(4)  # the backoff (retry_base 5m) is not over
    assert world.requests() == []
    world.cycle(6)
    world.cycle(60)
    assert len(world.requests()) == 1
    assert world.one("SELECT send_status, attempts FROM approval_requests") == ("sent", 2)


def test_a_request_of_unknown_outcome_waits_the_grace_and_goes_out_with_the_same_bytes(
    make_world: object,
) -> None:
    world: World = make_world()  # type: ignore[operator]
    world.handler.drop_on_data = 1  # the connection dies during DATA: maybe delivered, maybe not
    world.deliver(question(1))
    world.cycle(0)
    stored = world.one("SELECT raw, message_id FROM approval_requests")
    world.cycle(10)  # within resend_grace: no second attempt
    assert world.handler.data_calls == 1 and world.requests() == []
    world.cycle(31)
    world.cycle(40)
    assert world.requests() == [stored[0]]  # exactly the stored bytes, once
    assert f"<{stored[1]}>".encode() in bytes(stored[0])  # type: ignore[arg-type]


def test_a_crash_after_the_request_was_stored_sends_it_once_at_restart(make_world: object) -> None:
    world: World = make_world()  # type: ignore[operator]
    sender = world.bridge.services.sender
    world.bridge.services.sender = None  # the process dies between storing and sending
    world.deliver(question(1))
    world.cycle(0)
    assert world.requests() == []
    stored = world.one("SELECT raw, send_status FROM approval_requests")
    assert stored[1] == "pending"
    world.bridge = Bridge(world.bridge.config, world.bridge.store,
                          replace(world.bridge.services, sender=sender))  # the restart
    world.cycle(1)
    world.cycle(2)
    assert world.requests() == [stored[0]]


def test_a_rejected_reply_from_x_is_never_relayed(make_world: object) -> None:
    world: World = make_world("held")  # type: ignore[operator]
    world.deliver(question(1))
    world.cycle(0)
    [post] = world.fake.posts_by(world.bot)
    helper = world.fake.add_user("seller", "Best Deals", created_at=NOW - timedelta(days=400))
    world.fake.add_reply(post.id, helper, "Buy cheap serial renewals at https://deals.example.com now")
    world.cycle(10)
    [request] = world.requests()
    world.deliver(answer(request, "Reject"))
    world.cycle(11)
    world.cycle(60)
    assert [rcpts for _, rcpts, _ in world.handler.delivered] == [[MODERATOR]]  # no relay
    assert world.one("SELECT status, reason FROM replies") == (
        "rejected", f"rejected by {MODERATOR} by email")
    assert world.one("SELECT actor FROM reply_decisions ORDER BY id DESC LIMIT 1") == (MODERATOR,)


def test_a_post_the_matcher_held_is_sent_with_one_line_per_piece_of_evidence(
    make_world: object,
) -> None:
    world: World = make_world("held")  # type: ignore[operator]
    world.bridge.config = replace(world.bridge.config, matcher=replace(
        world.bridge.config.matcher, unanswered_after=timedelta(days=5)))  # nothing due by itself
    world.deliver(question(1))
    world.cycle(0)
    draft = "Unanswered on the list: How do I renew serial 1? #sololibrarians https://l.example/1"
    hold(world.bridge.store, [Candidate("q1@members.example.org", None, draft, "https://l.example/1",
                                        False)],
         f"{MODERATION_PREFIX}MACHINE_MAIL=-4.0, QUESTION=+3.0", NOW)
    world.cycle(1)
    [request] = world.requests()
    body = message_from_bytes(request, policy=policy.default).get_content().replace("\r\n", "\n")
    assert "- evidence: MACHINE_MAIL=-4.0\n- evidence: QUESTION=+3.0\n" in body and draft in body


def test_a_question_held_on_two_networks_is_one_request_and_one_answer_releases_both(
    make_world: object,
) -> None:
    world: World = make_world("held")  # type: ignore[operator]
    world.bridge.config = replace(world.bridge.config, matcher=replace(
        world.bridge.config.matcher, unanswered_after=timedelta(days=5)))  # nothing due by itself
    world.deliver(question(1))
    world.cycle(0)
    root, link = "q1@members.example.org", "https://l.example/1"
    hold(world.bridge.store, [Candidate(root, None, f"On X: renewals? {link}", link, False, "x"),
                              Candidate(root, None, f"On Mastodon: renewals? {link}", link, False,
                                        "mastodon")], "mass-new guard: test", NOW)
    world.cycle(1)
    [request] = world.requests()
    body = message_from_bytes(request, policy=policy.default).get_content()
    assert "On X: renewals?" in body and "On Mastodon: renewals?" in body
    world.deliver(answer(request, "approve"))
    world.cycle(2)
    world.cycle(3)
    statuses = dict(world.bridge.store.conn.execute("SELECT network, status FROM posts").fetchall())
    assert statuses == {"x": "confirmed", "mastodon": "queued"}  # no Mastodon account here
    assert len(world.posts()) == 1
