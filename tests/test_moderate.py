"""The admin's `moderate` command (bridge.cli.moderate) over a real SQLite store."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.cli.moderate import run_moderate
from bridge.decide.moderation import STOP_REASON
from bridge.store.db import Store, to_epoch

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
GOOD = "@listbridge Try the Hollinger catalogue, their boxes are acid free."


# -- the moderate command ----------------------------------------------------------------------
@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


def add_reply(store: Store, reply_id: str, status: str, reason: str, text: str = GOOD) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO replies(reply_id, root_id, post_id, author_id, author_username, "
            "author_name, text, url, created_at, status, reason, fetched_at) "
            "VALUES (?, 'q1@lists.example.org', '1900', '77', 'jane', 'Jane Doe', ?, ?, ?, ?, ?, ?)",
            (reply_id, text, f"https://x.com/jane/status/{reply_id}",
             to_epoch(NOW) + int(reply_id) % 100, status, reason, to_epoch(NOW)))


def moderate_cmd(db: Path, action: str, *ids: str, as_json: bool = False) -> tuple[int, str]:
    store = Store.open(db)  # a fresh connection each time, as each CLI run is
    try:
        out = io.StringIO()
        code = run_moderate(store, action, list(ids), out, NOW + timedelta(hours=1), as_json)
        return code, out.getvalue()
    finally:
        store.close()


def status_of(db: Path, reply_id: str) -> tuple[str, str]:
    store = Store.open(db)
    row = store.conn.execute("SELECT status, reason FROM replies WHERE reply_id = ?",
                             (reply_id,)).fetchone()
    store.close()
    return str(row[0]), str(row[1])


@pytest.fixture
def seeded(db: Path) -> Path:
    store = Store.open(db)
    add_reply(store, "1901", "held", "contains a link (example.net)")
    add_reply(store, "1902", "held", "account is 2d old (minimum 30d)")
    add_reply(store, "1903", "held", STOP_REASON, "@listbridge STOP")
    add_reply(store, "1904", "rejected", "too short: 1 of 15 characters of words", "+1")
    add_reply(store, "1905", "relayed", "passed every filter")
    store.close()
    return db


def test_list_shows_only_held_replies_with_reason_and_counts_the_rest(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "list")
    assert code == 0
    assert "1901" in out and "[held: contains a link (example.net)]" in out and "@jane" in out
    assert "https://x.com/jane/status/1902" in out and STOP_REASON in out
    assert "1904  " not in out and "1905  " not in out
    assert "also stored: 1 rejected, 1 relayed" in out


def test_list_json_is_one_object_per_held_reply(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "list", as_json=True)
    items = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [i["reply_id"] for i in items] == ["1901", "1902", "1903"]
    assert items[0]["reason"] == "contains a link (example.net)"
    assert items[0]["root_id"] == "q1@lists.example.org" and items[0]["created_at"].endswith("+00:00")


def test_list_with_ids_shows_those_replies_whatever_their_status(seeded: Path) -> None:
    _, out = moderate_cmd(seeded, "list", "1904", as_json=True)
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["rejected"]


def test_approve_persists_status_reason_who_and_when(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "approve", "1901")
    assert (code, out) == (0, "1901: approved\n")
    assert status_of(seeded, "1901") == ("approved", "approved by admin")
    store = Store.open(seeded)
    trail = store.conn.execute("SELECT status, reason, actor, decided_at FROM reply_decisions "
                               "WHERE reply_id = '1901'").fetchall()
    store.close()
    assert trail == [("approved", "approved by admin", "admin", to_epoch(NOW) + 3600)]


def test_reject_persists_and_a_rejected_reply_can_still_be_approved(seeded: Path) -> None:
    assert moderate_cmd(seeded, "reject", "1902")[0] == 0
    assert status_of(seeded, "1902") == ("rejected", "rejected by admin")
    assert moderate_cmd(seeded, "approve", "1904", "1902") == \
        (0, "1902: approved\n1904: approved\n")
    assert status_of(seeded, "1904") == ("approved", "approved by admin")


def test_approve_all_approves_every_held_reply_except_a_stop_request(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "approve", "all")
    assert (code, out) == (0, "1901: approved\n1902: approved\n")
    assert status_of(seeded, "1903") == ("held", STOP_REASON)
    assert status_of(seeded, "1904")[0] == "rejected"  # "all" means all held, not all stored


def test_a_stop_request_is_never_approved_even_by_id_but_can_be_rejected(seeded: Path) -> None:
    assert moderate_cmd(seeded, "approve", "1903") == (1, "1903: not approved: it asked to stop\n")
    assert status_of(seeded, "1903") == ("held", STOP_REASON)
    assert moderate_cmd(seeded, "reject", "all")[0] == 0
    assert status_of(seeded, "1903") == ("rejected", "rejected by admin")
    assert moderate_cmd(seeded, "approve", "1903")[0] == 1  # not even once rejected


def test_unknown_ids_and_relayed_replies_are_refused_while_the_rest_is_applied(seeded: Path) -> None:
    code, out = moderate_cmd(seeded, "reject", "1901", "1905", "nope")
    assert code == 1
    assert out == "nope: no such reply\n1901: rejected\n1905: not rejected: it is relayed\n"
    assert status_of(seeded, "1905")[0] == "relayed"


def test_an_approved_reply_already_in_a_relay_email_cannot_be_rejected(seeded: Path) -> None:
    store = Store.open(seeded)
    add_reply(store, "1906", "approved", "passed every filter")
    with store.transaction() as conn:
        conn.execute("UPDATE replies SET relay_id = 'relay-1@bridge.example' WHERE reply_id = '1906'")
    store.close()
    assert moderate_cmd(seeded, "reject", "1906") == \
        (1, "1906: not rejected: it is in relay email relay-1@bridge.example\n")
    assert status_of(seeded, "1906")[0] == "approved"


def test_usage_errors_exit_2_and_change_nothing(seeded: Path) -> None:
    assert moderate_cmd(seeded, "approve")[0] == 2
    assert moderate_cmd(seeded, "delete", "1901")[0] == 2
    assert status_of(seeded, "1901")[0] == "held"


def test_held_replies_survive_a_restart_and_nothing_is_deleted(seeded: Path) -> None:
    moderate_cmd(seeded, "reject", "all")
    store = Store.open(seeded)
    count = store.conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    store.close()
    assert count == 5  # rejecting keeps the row
    assert moderate_cmd(seeded, "list")[1].startswith("no held replies\n")
    _, out = moderate_cmd(seeded, "list", "1901", "1902", "1903", as_json=True)
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["rejected"] * 3


def test_list_on_an_empty_store_says_so(db: Path) -> None:
    assert moderate_cmd(db, "list") == (0, "no held replies\n")
