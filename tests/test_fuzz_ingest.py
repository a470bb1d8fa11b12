"""Fuzz: thousands of generated hostile messages mixed with known good ones, through an mbox, a
Maildir and the real Dovecot. Afterwards every good message is present and every hostile one is
either stored or recorded as a problem: none stops a pass, none vanishes.

Seeded and bounded: the same messages on every run, a fixed count per source.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from dovecot import HOST, Account, DovecotServer

from bridge.adapters.archive import read_maildir, read_mbox
from bridge.adapters.imap import ImapMailbox
from bridge.model import RawMail
from bridge.stages.ingest import IngestPolicy, ingest_archive, parse_raw, store_batch
from bridge.store.db import Store
from bridge.store.mail import MailStore

SEED = 20261201
POLICY = IngestPolicy()


def good_message(i: int) -> bytes:
    parent = f"In-Reply-To: <good-{i - 1}@fuzz.example.org>\n" if i % 4 else ""
    return (f"Message-ID: <good-{i}@fuzz.example.org>\nFrom: Member {i} <m{i}@example.org>\n"
            f"Subject: {'Re: ' if i % 4 else ''}topic {i // 4}\n"
            f"Date: Mon, 2 Nov 2026 09:{i % 60:02d}:00 +0000\n"
            f"{parent}\nHow do I renew item {i}?\n").encode()


# -- hostile message generators: each takes the rng and a serial number --------------------------

def _headers(n: int, rng: random.Random) -> str:
    return f"Message-ID: <bad-{n}@fuzz.example.org>\nFrom: x{rng.randrange(99)}@example.org\n"


def random_bytes(n: int, rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(0, 3000))


def blank(n: int, rng: random.Random) -> bytes:
    return rng.choice([b"", b" ", b"\n\n\n", b"\r\n\t \r\n", b"\x00"])


def absurd_date(n: int, rng: random.Random) -> bytes:
    date = rng.choice([
        "Sat, 25 Dec 9999 00:00:00 +0000", "Fri, 31 Dec 9999 23:59:59 -2359",
        "Mon, 1 Jan 0001 00:00:00 +0000",
        "Mon, 2 Nov 99999999999 09:00:00 +0000", "31 Feb 2026 25:61:61", "", "Mon, 2 Nov 1969 00:00:00 +9999",
    ])
    subject = rng.choice(["Re: topic 1", "question", "Re:", ""])
    return f"{_headers(n, rng)}Date: {date}\nSubject: {subject}\n\nbody\n".encode()


def encoded_words(n: int, rng: random.Random) -> bytes:
    word = rng.choice([
        "=?utf-7?q?+2D8-?=", "=?utf-7?b?K2REOC0=?=", "=?bogus-charset?q?abc?=", "=?utf-8?b?////?=",
        "=?utf-8?q?=ED=A0=80?=", "=?iso-2022-jp?b?GyRCJCIbKEI=?=", "=?utf-8?q?" + "=E2" * 50 + "?=",
        "=?x-unknown?b?" + "A" * 101 + "?=",
    ])
    header = rng.choice(["Subject", "From", "Message-ID", "References", "In-Reply-To", "List-Id"])
    return f"{_headers(n, rng)}{header}: {word} {word}\nSubject: s\n\nbody {word}\n".encode()


def bad_ids(n: int, rng: random.Random) -> bytes:
    mid = rng.choice(["noat", "<@>", "<a@b>junk", "<>", "", "<" + "x" * 5000 + "@y>", "<a b@c>", "<<a@b>>"])
    choices = ["<@>", "<a@>", f"<good-{rng.randrange(300)}@fuzz.example.org>", "junk",
               f"<bad-{rng.randrange(n + 1)}@fuzz.example.org>"]
    refs = " ".join(rng.choice(choices) for _ in range(rng.randrange(40)))
    return (f"Message-ID: {mid}\nFrom: a@example.org\nSubject: Re: topic {rng.randrange(50)}\n"
            f"References: {refs}\nIn-Reply-To: {refs[:200]}\n\nbody\n").encode()


def many_references(n: int, rng: random.Random) -> bytes:
    refs = " ".join(f"<good-{rng.randrange(300)}@fuzz.example.org>" for _ in range(rng.randrange(2, 400)))
    return f"{_headers(n, rng)}Subject: Re: topic 3\nReferences: {refs}\n\nme too\n".encode()


def broken_mime(n: int, rng: random.Random) -> bytes:
    depth = rng.randrange(1, 60)
    body = "".join(f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(depth))
    body += rng.choice(["--bX\nContent-Type: text/plain; charset=x-bogus\n"
                        "Content-Transfer-Encoding: base64\n\n!!!\n",
                        "Content-Transfer-Encoding: quoted-printable\n\n=ZZ=\n", "<html><body><p>hi<" * 200])
    kind = rng.choice(["multipart/mixed; boundary=b0", "multipart/digest; boundary=b0",
                       "text/html; charset=utf-7",
                       "multipart/alternative", "message/rfc822"])
    return f"{_headers(n, rng)}Subject: mime\nMIME-Version: 1.0\nContent-Type: {kind}\n\n{body}".encode()


def control_bytes(n: int, rng: random.Random) -> bytes:
    junk = bytes(rng.choice([0, 1, 8, 11, 12, 13, 27, 127, 0x85, 0xFF]) for _ in range(rng.randrange(1, 60)))
    return (_headers(n, rng).encode() + b"Subject: " + junk + b"\nX-" + junk + b": v\n"
            + junk + b"\n\n" + junk + b"\n")


def huge_headers(n: int, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return (_headers(n, rng) + "Subject: " + "long " * 3_000 + "\n\nbody\n").encode()
    return (_headers(n, rng) + "".join(f"X-H{i}: {i}\n" for i in range(800)) + "\nbody\n").encode()


def cr_only(n: int, rng: random.Random) -> bytes:
    return (_headers(n, rng) + "Subject: mac\n\nline one\nline two\n").replace("\n", "\r").encode()


def flipped(n: int, rng: random.Random) -> bytes:
    data = bytearray(good_message(n).replace(b"good-", b"bad-"))
    for _ in range(rng.randrange(1, 12)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def big_body(n: int, rng: random.Random) -> bytes:
    line = rng.choice(["> quoted\n", "\U0001f600" * 40 + "\n", "word " * 30 + "\n", "-- \n"])
    return (f"{_headers(n, rng)}Subject: big\nContent-Type: text/plain; charset=utf-8\n\n"
            + line * rng.randrange(50, 600)).encode()


GENERATORS: tuple[Callable[[int, random.Random], bytes], ...] = (
    random_bytes, blank, absurd_date, encoded_words, bad_ids, many_references, broken_mime,
    control_bytes, huge_headers, cr_only, flipped, big_body,
)


def mixed(count: int, goods: int, seed: int) -> list[tuple[bytes, bool]]:
    """`count` hostile messages and `goods` good ones, shuffled (seeded); (bytes, is_good)."""
    rng = random.Random(seed)
    items = [(rng.choice(GENERATORS)(n, rng), False) for n in range(count)]
    items += [(good_message(i), True) for i in range(goods)]
    rng.shuffle(items)
    return items


# -- the check ------------------------------------------------------------------------------------

def assert_nothing_lost(store: Store, raws: Iterable[RawMail], goods: int) -> None:
    """Every good message is stored; every raw message is stored, a duplicate, or a problem."""
    ms = MailStore(store)
    missing = [i for i in range(goods) if not ms.has_message(f"good-{i}@fuzz.example.org")]
    assert missing == []
    stored = {str(r[0]) for r in store.conn.execute("SELECT DISTINCT source FROM messages")}
    problems = {str(r[0]) for r in store.conn.execute("SELECT DISTINCT source FROM problems")}
    for raw in raws:
        if raw.source in stored or raw.source in problems:
            continue
        # neither: only allowed for a duplicate of a message already stored
        mails = parse_raw(raw, POLICY)
        assert mails and all(ms.has_message(m.message_id) for m in mails), raw.source


def test_fuzz_mbox(tmp_path: Path) -> None:
    items = mixed(1500, 200, SEED)
    path = tmp_path / "fuzz.mbox"
    with path.open("wb") as out:
        for data, _ in items:
            escaped = data.replace(b"\nFrom ", b"\n>From ")
            out.write(b"From fuzz@example.org Mon Nov  2 09:15:00 2026\n" + escaped.rstrip(b"\n") + b"\n\n")
    raws = list(read_mbox(path))
    assert len(raws) == len(items)  # the reader itself drops nothing
    store = Store.open(tmp_path / "b.sqlite3")
    report = ingest_archive(MailStore(store), raws, POLICY, batch_size=200)
    assert report.seen == len(items) and report.problems > 0
    assert_nothing_lost(store, raws, 200)


def test_fuzz_maildir(tmp_path: Path) -> None:
    items = mixed(1000, 150, SEED + 1)
    (tmp_path / "md" / "cur").mkdir(parents=True)
    for n, (data, _) in enumerate(items):
        (tmp_path / "md" / "cur" / f"{n:05d}.fuzz:2,S").write_bytes(data)
    raws = list(read_maildir(tmp_path / "md"))
    assert len(raws) == len(items)
    store = Store.open(tmp_path / "b.sqlite3")
    report = ingest_archive(MailStore(store), raws, POLICY, batch_size=150, workers=2)
    assert report.seen == len(items)
    assert_nothing_lost(store, raws, 150)


@pytest.mark.slow
def test_fuzz_over_imap(tmp_path: Path, dovecot_server: DovecotServer, imap_account: Account) -> None:
    """Through the real server: every appended message is stored or recorded and the cursor
    reaches the last UID, in small batches (so a bad message shares a batch with good ones)."""
    items = mixed(300, 60, SEED + 2)
    appended = 0
    with dovecot_server.admin(imap_account) as admin:
        for data, _ in items:
            admin.append("INBOX", data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") or b"\r\n")
            appended += 1
    mailbox = ImapMailbox(host=HOST, port=dovecot_server.port, security="plain",
                          username=imap_account.username, password=lambda: imap_account.password,
                          allow_plaintext=True, timeout=30, batch_size=25)
    store = Store.open(tmp_path / "b.sqlite3")
    raws: list[RawMail] = []
    try:
        mailbox.connect()
        for batch in mailbox.fetch_new(None):
            raws.extend(batch.mails)
            store_batch(MailStore(store), batch.mails, POLICY, batch.cursor, batch.oversized)
    finally:
        mailbox.close()
    cursor = store.get_cursor("INBOX")
    assert cursor is not None and cursor.last_uid == appended
    assert len(raws) + store.count("problems") >= appended
    assert_nothing_lost(store, raws, 60)
