"""Approval by email through the real daemon (`listserv-bridge run` as a subprocess): the request
reaches aiosmtpd, the moderator's answer lands in Dovecot, IDLE wakes the daemon, the post goes
out to the fake X, and the answer is never taken for list mail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import format_datetime
from pathlib import Path

import pytest
from bridge_world import QUESTION_ID, World, make_world, question, running, stop, threads_json, wait_for
from dovecot import Account, DovecotServer

MODERATOR = "owner@lists.example.org"


@pytest.fixture
def world(tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account) -> Iterator[World]:
    with make_world(tmp_path, dovecot_server, imap_account) as built:
        text = built.config.read_text()
        built.config.write_text(text.replace(
            "[moderation]\n", f'[moderation]\nmoderators = ["{MODERATOR}"]\napproval = "all"\n'))
        yield built


def answer(request: bytes, first_line: str) -> bytes:
    req = message_from_bytes(request, policy=policy.default)
    quoted = "\r\n".join(f"> {line}" for line in req.get_content().splitlines())
    return (f"Message-ID: <daemon-answer@lists.example.org>\r\nFrom: Olive <{MODERATOR}>\r\n"
            f"To: bridge@bridge.example.net\r\nSubject: Re: {req['Subject']}\r\n"
            f"Date: {format_datetime(datetime.now(UTC))}\r\nIn-Reply-To: {req['Message-ID']}\r\n"
            f"\r\n{first_line}\r\n\r\nOn a day, the bridge wrote:\r\n{quoted}\r\n").encode()


@pytest.mark.slow
def test_the_daemon_emails_a_held_post_and_posts_it_when_a_moderator_approves(world: World) -> None:
    with running(world) as (proc, sock):
        wait_for("READY=1", lambda: "READY=1" in sock.lines, 30)
        world.dovecot.append(world.account, question())

        def requests() -> list[bytes]:
            return [raw for _, rcpts, raw in world.handler.delivered if rcpts == [MODERATOR]]

        [request] = wait_for("the approval request", requests, 60)  # type: ignore[misc]
        assert world.posts() == []  # approval = "all": nothing goes out unseen
        world.dovecot.append(world.account, answer(request, "Approve"))
        wait_for("the approved post on X", world.posts, 60)
        assert stop(proc) == 0
    assert len(world.posts()) == 1
    assert [t["messages"] for t in threads_json(world)] == [[QUESTION_ID]]  # the answer is no mail
    assert "approval_applied" in world.log()
