"""End to end: `listserv-bridge run` as a real subprocess against Dovecot (the list mailbox), the
fake X API (real HTTP) and aiosmtpd (the list's SMTP server), with the notify protocol watched
through a fake NOTIFY_SOCKET."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from bridge_world import (
    QUESTION_ID,
    ROOT,
    NotifyListener,
    World,
    make_world,
    question,
    running,
    stop,
    threads_json,
    wait_for,
)
from dovecot import Account, DovecotServer


@pytest.fixture
def world(tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account) -> Iterator[World]:
    with make_world(tmp_path, dovecot_server, imap_account) as built:
        yield built


def test_question_to_post_to_reply_to_list_and_back(world: World) -> None:
    proc, sock = world.start()
    try:
        wait_for("READY=1", lambda: "READY=1" in sock.lines, 30)
        world.dovecot.append(world.account, question())
        posts = wait_for("the post on X", world.posts, 60)
        assert isinstance(posts, list) and len(posts) == 1
        post = posts[0]

        def state() -> object:
            rows = [t for t in threads_json(world) if t["root"] == QUESTION_ID]
            return rows[0]["state"] if rows else None

        wait_for("the thread to show as posted", lambda: state() == "posted", 30)
        assert "#sololibrarians" in post.text  # type: ignore[attr-defined]
        world.fake.add_reply(post.id, world.helper,  # type: ignore[attr-defined]
                             "In Koha, use an irregular pattern and skip the months it never comes out")
        wait_for("the relay email", lambda: world.handler.delivered, 60)
        (mail_from, rcpts, raw) = world.handler.delivered[0]
        assert (mail_from, rcpts) == ("bridge@bridge.example.net", ["sla-dsol@lists.example.org"])
        relay = message_from_bytes(raw)
        assert relay["In-Reply-To"] == f"<{QUESTION_ID}>"
        assert f"<{QUESTION_ID}>" in relay["References"]
        assert relay["Subject"].startswith("Re: Koha: serials prediction pattern")
        assert "Kim Helper (@koha_helper) via" in relay["From"]
        assert relay["Auto-Submitted"] is None
        # the list delivers our relay back: recognised as ours, the thread is answered via X
        world.dovecot.append(world.account, raw)

        wait_for("the echo to mark the thread answered", lambda: state() == "answered_via_x", 30)
        assert len(world.handler.delivered) == 1 and len(world.posts()) == 1
        status = json.loads(subprocess.run(
            [sys.executable, "-m", "bridge.cli", "status", "--json", "--config", str(world.config)],
            cwd=ROOT, capture_output=True, check=True).stdout)
        assert status["posts"] == {"confirmed": 1} and status["posts_today"] == 1
        assert status["replies"] == {"relayed": 1} and status["relays"] == {"sent": 1}
        assert status["spend_this_month_usd"] == pytest.approx(0.20)
        assert all(not s["last_error"] for s in status["stages"].values())
        assert status["last_successful_cycle_at"] is not None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        scraped = opener.open(world.metrics_url, timeout=5).read().decode()
        assert 'listserv_bridge_posts_published_total{network="x"} 1.0' in scraped
        assert 'listserv_bridge_replies_relayed_total{network="x"} 1.0' in scraped
        assert 'listserv_bridge_network_errors_total{network="x"} 0.0' in scraped
        assert "listserv_bridge_relays_sent_total 1.0" in scraped
        assert stop(proc) == 0
        wait_for("STOPPING=1", lambda: "STOPPING=1" in sock.lines, 5)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert "consumer-secret" not in world.log() and world.account.password not in world.log()


@pytest.mark.slow
def test_kill_9_at_random_points_never_duplicates_or_loses(world: World) -> None:
    """A busy run killed with SIGKILL again and again: every question posted exactly once, every
    reply relayed exactly once."""
    subjects = [f"Question {n}: how do I renew serial subscription {n} in Koha?" for n in range(4)]
    ids = [f"e2e-k{n}@members.example.org" for n in range(4)]
    for n, (mid, subject) in enumerate(zip(ids, subjects, strict=True)):
        world.dovecot.append(world.account, question(
            mid, subject, body=f"Our subscription {n} lapsed last month. How do I renew it in Koha?"))
    # A kill between the send's lease and the server's answer leaves the outcome unknown: the
    # bridge waits for the list's echo up to resend_grace, then resends. The test plays the list:
    # every delivered email comes back into the mailbox.
    world.config.write_text(world.config.read_text().replace('[relay]\n', '[relay]\nresend_grace = "15s"\n'))
    echoed = 0

    def echo_delivered() -> int:
        nonlocal echoed
        for _, _, raw in world.handler.delivered[echoed:]:
            world.dovecot.append(world.account, raw)
            echoed += 1
        return len(world.handler.delivered)

    deadline = time.monotonic() + 150
    kills = 0
    replied: set[str] = set()
    while time.monotonic() < deadline:
        proc, sock = world.start()
        if not wait_for_ready(sock):
            proc.kill()  # a start that never got ready: kill it all the same
        time.sleep((kills * 0.37) % 1.2)  # not a wait: the kill lands at varying points of a cycle
        echo_delivered()
        for post in world.posts():
            if post.id not in replied:  # type: ignore[attr-defined]
                world.fake.add_reply(post.id, world.helper,  # type: ignore[attr-defined]
                                     f"Use the irregularity setting for post {post.id}")  # type: ignore[attr-defined]
                replied.add(post.id)  # type: ignore[attr-defined]
        proc.kill()
        proc.wait(timeout=10)
        sock.close()
        kills += 1
        if len(world.posts()) == 4 and len(world.handler.delivered) >= 4 and kills >= 4:
            break
    proc, sock = world.start()  # a last, clean run lets everything settle
    try:
        wait_for("all relays", lambda: echo_delivered() >= 4, 90)
        wait_for("every echo recognised", lambda: sorted(
            t["state"] for t in threads_json(world) if t["root"] in ids) == ["answered_via_x"] * 4, 60)
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    texts = [p.text for p in world.posts()]  # type: ignore[attr-defined]
    assert len(texts) == 4 and len(set(texts)) == 4, texts  # each question posted exactly once
    replies_seen = [message_from_bytes(raw)["In-Reply-To"] for _, _, raw in world.handler.delivered]
    assert sorted(replies_seen) == sorted(f"<{mid}>" for mid in ids)  # one relay per question


@pytest.mark.slow
def test_the_held_and_failure_metrics_are_fed_by_the_running_daemon(world: World) -> None:
    """Issue 9: problems, posts_held, replies_held and relay_failures were documented but never
    fed. A message over the size limit, two questions that arrive already due (the mass-new
    guard holds them), a reply from a new account (held) and a relay while SMTP is down."""
    world.edit_config("timeout = \"5s\"\n[matcher]", "timeout = \"5s\"\nmax_message_bytes = 4096\n"
                      "[matcher]")
    world.edit_config("[publish]", "[publish]\nmass_new_threshold = 1")
    world.smtp.stop()
    world.dovecot.append(world.account, question("big@members.example.org", "A long one")
                         + b"x" * 5000 + b"\r\n")
    old = datetime.now(UTC) - timedelta(hours=2)
    for n in range(2):  # each its own words: a word-for-word repost would not be due at all
        world.dovecot.append(world.account, question(
            f"old{n}@members.example.org", f"Koha: loan periods {n}", date=old,
            body=f"Where do I set the loan period of item type {n} in Koha?"))
    world.dovecot.append(world.account, question())
    newcomer = world.fake.add_user("newcomer", "New Comer")
    with running(world) as (proc, _):
        posts = wait_for("the post on X", world.posts, 60)
        post_id = posts[0].id  # type: ignore[index]
        world.fake.add_reply(post_id, world.helper, "Use the irregularity setting in Koha serials")
        world.fake.add_reply(post_id, newcomer, "Ask the vendor about the prediction pattern")
        wanted = ("problems_total", "posts_held", "replies_held", "relay_failures_total")
        values = wait_for("every metric fed", lambda: fed(world, wanted), 60)
        assert stop(proc) == 0
    assert values == {"problems_total": 1.0, "posts_held": 2.0, "replies_held": 1.0,
                      "relay_failures_total": values["relay_failures_total"]}  # type: ignore[index]


def fed(world: World, names: tuple[str, ...]) -> dict[str, float] | None:
    """The metrics' values once every one is above zero."""
    values = {name: scrape(world, name) for name in names}
    return values if all(values.values()) else None


def scrape(world: World, name: str) -> float:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    text = opener.open(world.metrics_url, timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(f"listserv_bridge_{name} "):
            return float(line.split()[1])
    return 0.0


def wait_for_ready(sock: NotifyListener) -> bool:
    try:
        wait_for("READY=1", lambda: "READY=1" in sock.lines, 30)
    except AssertionError:
        return False
    return True


def archive(path: Path, count: int) -> None:
    """An mbox of `count` small messages from an old year (nothing in it falls due)."""
    with path.open("wb") as out:
        for n in range(count):
            out.write(f"From member{n % 7}@members.example.org Mon Mar  2 10:00:00 2020\n"
                      f"Message-ID: <old{n}@members.example.org>\n"
                      f"From: Member {n % 7} <member{n % 7}@members.example.org>\n"
                      f"Date: Mon, 2 Mar 2020 10:{n % 60:02d}:00 +0000\n"
                      f"Subject: Old topic {n // 3}\n\nLine one of message {n}.\n\n".encode())


@pytest.mark.slow
def test_an_archive_import_while_the_daemon_runs_both_finish_and_nothing_is_lost(
        world: World) -> None:
    """Issue 13: `ingest --mbox` during `run` held the write lock and the daemon died with
    `database is locked`. Both run here on one database; both finish, nothing is lost."""
    mbox, count = world.tmp / "archive.mbox", 3000
    archive(mbox, count)
    with running(world) as (proc, notify):
        wait_for("READY=1", lambda: "READY=1" in notify.lines, 30)
        importer = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "ingest", "--mbox", str(mbox), "--no-progress",
             "--workers", "1", "--config", str(world.config)], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        world.dovecot.append(world.account, question())  # the daemon stores and posts meanwhile
        output, _ = importer.communicate(timeout=240)
        assert importer.returncode == 0, output
        wait_for("the post on X", world.posts, 60)
        assert proc.poll() is None
        assert stop(proc) == 0
    db = sqlite3.connect(world.tmp / "state" / "bridge.sqlite3")
    try:
        stored = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    finally:
        db.close()
    assert stored == count + 1 and len(world.posts()) == 1
