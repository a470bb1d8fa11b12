"""Threading: parent choice, late parents merging, subject fallback, and order independence."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bridge.model import Author, Mail
from bridge.store.db import Store
from bridge.store.mail import MailStore

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def mail(mid: str, minutes: int, refs: tuple[str, ...] = (), parent: str | None = None,
         subject: str = "koha serials", reply: bool = False, who: str = "a") -> Mail:
    return Mail(
        message_id=mid, subject=("Re: " if reply else "") + subject, subject_norm=subject,
        is_reply_subject=reply, author=Author(who, f"{who}@example.org"),
        date=T0 + timedelta(minutes=minutes), in_reply_to=parent or (refs[-1] if refs else None),
        references=refs,
    )


def thread_sets(mails: list[Mail]) -> set[frozenset[str]]:
    """Ingest `mails` in the given order into a fresh store; return threads as id sets + roots."""
    store = Store.open(":memory:")
    ms = MailStore(store)
    with store.transaction():
        for m in mails:
            ms.add_mail(m, "test")
        ms.flush()
    out = {frozenset({f"root={t.root.message_id}", *(m.message_id for m in t.messages)})
           for t in ms.threads()}
    store.close()
    return out


SHAPES = {
    "chain": [mail("a@x", 0), mail("b@x", 10, ("a@x",), reply=True, who="b"),
              mail("c@x", 20, ("a@x", "b@x"), reply=True),
              mail("d@x", 30, ("a@x", "b@x", "c@x"), reply=True, who="d")],
    "fan": [mail("r@x", 0), mail("s1@x", 5, ("r@x",), reply=True, who="s1"),
            mail("s2@x", 6, ("r@x",), reply=True, who="s2"), mail("s3@x", 7, ("r@x",), reply=True, who="s3")],
    "ghost_parent": [mail("g1@x", 5, ("missing@x",), reply=True),
                     mail("g2@x", 6, ("missing@x",), reply=True, who="b"),
                     mail("other@x", 1, subject="something else")],
    "web_reply_no_refs": [mail("q@x", 0, subject="ezproxy stanza"),
                          mail("w@x", 60, subject="ezproxy stanza", reply=True, who="w"),
                          mail("z@x", 90, ("q@x",), reply=True, subject="ezproxy stanza", who="z")],
    "two_threads": [mail("t1@x", 0, subject="weeding"), mail("t2@x", 1, subject="ill"),
                    mail("t1r@x", 2, ("t1@x",), reply=True, subject="weeding", who="b"),
                    mail("t2r@x", 3, ("t2@x",), reply=True, subject="ill", who="b")],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_delivery_order_gives_the_same_threads(shape: str) -> None:
    mails = SHAPES[shape]
    expected = thread_sets(mails)
    for order in itertools.permutations(mails):
        assert thread_sets(list(order)) == expected, [m.message_id for m in order]


def test_late_parent_merges_the_threads_its_children_started() -> None:
    """Children referencing only their direct parent form separate threads until it arrives."""
    kids = [mail("k1@x", 10, ("p@x",), reply=True), mail("k2@x", 11, ("k1@x",), reply=True)]
    before = thread_sets(kids)
    assert len(before) == 1  # k2 names k1, k1 names p: one component already
    lone = [mail("k1@x", 10, ("p@x",), reply=True), mail("k3@x", 12, ("p2@x",), reply=True)]
    assert len(thread_sets(lone)) == 2
    merged = thread_sets([*lone, mail("p2@x", 5, ("p@x",), reply=True)])
    assert len(merged) == 1


def test_root_is_the_earliest_message_without_a_parent_in_the_thread() -> None:
    (thread,) = thread_sets(SHAPES["chain"])
    assert "root=a@x" in thread
    (ghost_thread,) = [t for t in thread_sets(SHAPES["ghost_parent"]) if "g1@x" in t]
    assert "root=g1@x" in ghost_thread  # parent missing: the earliest child stands in


def test_subject_fallback_only_for_replies_without_references_within_the_window() -> None:
    far = [mail("old@x", 0, subject="retention"),
           mail("late@x", 60 * 24 * 30, subject="retention", reply=True)]
    assert len(thread_sets(far)) == 2  # 30 days apart: outside the 14-day window
    not_reply = [mail("one@x", 0, subject="retention"), mail("two@x", 5, subject="retention")]
    assert len(thread_sets(not_reply)) == 2  # same subject, but not a reply: separate questions


def test_self_reference_and_duplicate_message_are_harmless() -> None:
    store = Store.open(":memory:")
    ms = MailStore(store)
    with store.transaction():
        assert ms.add_mail(mail("s@x", 0), "t") is not None
        assert ms.add_mail(mail("s@x", 0), "t") is None  # same Message-ID: a duplicate
        ms.flush()
    assert store.count("messages") == 1
    assert store.count("threads") == 1
