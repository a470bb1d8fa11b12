"""Deterministic synthetic mailing-list corpus for benchmarks (seeded; streams; flat memory).

    python bench/corpus.py --messages 50000 --out /tmp/bench.mbox [--seed 1] [--end 2026-11-25]

Threads of 1-20 messages (mostly short; ~20% roots never answered), Mailman 3 list headers and
footers, "[Bench-List] Re:" subjects, Received chains, DKIM-Signature, multipart/alternative,
base64 attachments, quoted-printable, iso-8859-1 and windows-1252 bodies. Every name, address and
host is made up (example.org/.com/.net, documentation IP ranges). `generate(n, seed)` yields the
raw bytes of each message (no mbox "From " line) in arrival order.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import heapq
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path

LIST_NAME, LIST_ADDR, LIST_HOST = "Bench-List", "bench-list@lists.example.org", "lists.example.org"
TAG = f"[{LIST_NAME}]"
DEFAULT_END = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
FOOTER = (
    "_______________________________________________\n"
    f"{LIST_NAME} mailing list -- {LIST_ADDR}\n"
    f"To unsubscribe send an email to bench-list-leave@{LIST_HOST}\n"
)


def _split(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


FIRST = _split(
    "Anna Ben Chloe David Elena Farid Grace Hiro Ines Jonas Kofi Laura Mateo Nadia Oscar "
    "Priya Quentin Rosa Samir Tanya Ulrich Vera Wei Xavier Yara Zoltan Maria John Sarah "
    "Peter Linda Ahmed Mei Olga Raj José Zoë Björn François Ýr")
LAST = _split(
    "Smith Okafor Novak Tanaka Garcia Müller Rossi Dubois Kowalski Haddad Singh Larsen Chen "
    "Brown Ivanova Costa Nakamura Fischer Moreau Jensen Ndlovu O'Brien Walsh Kim")
ORGS = [f"{w}.example.{tld}" for w in _split(
    "northwind lakeside harbour corvane meridian kestrel brightwater westfield fenwick "
    "hollis pryce okonkwo northgate stcolumba vallon ridgeline oakmont tidewater")
        for tld in ("org", "com", "net")] + ["mail.example.com", "post.example.net"]
WORDS = _split(
    "the library catalogue record journal licence budget report patron request server "
    "platform update error config proxy holdings subscription vendor policy archive "
    "metadata search index renewal usage statistics board director collection weeding "
    "serials loan article database access login migration export import field template "
    "schedule retention workflow survey invoice account link discovery repository "
    "copyright chapter scan course review upgrade version release module stanza header "
    "after before when with without every our their this that some each only still "
    "works fails shows returns breaks changed missing broken slow fine again now")
LATIN1 = _split("café résumé naïve façade Zürich Ångström señor déjà élève garçon")
CP1252 = ["“quoted”", "it’s", "—", "€45", "don’t", "…", "‘draft’", "Œuvre"]
TOPICS = _split(
    "proxy config for the new vendor platform|serials prediction patterns|ILL turnaround "
    "times|COUNTER reports for the board|weeding policy wording|course pack copyright|"
    "holdings sync errors|discovery layer templates|email archiving tools|retention "
    "schedules|link checking on guides|budget cuts to databases|login loops after SSO "
    "change|MARC export encoding|usage dashboards", "|")
QUESTION = ["How do I fix {t}?", "Anyone seen problems with {t}?", "Advice on {t}?",
            "Question about {t}", "{T}: what do you do?", "Help with {t}", "{T} (urgent)",
            "Best practice for {t}?"]
TZS = [timezone(timedelta(minutes=m)) for m in (-480, -420, -360, -300, -240, 0, 60, 120, 180,
                                                330, 480, 540, 600)]
Spec = tuple[float, int, int]  # (offset seconds from root, author index, parent index)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    addr: str
    shown: str  # ready-to-use From value (encoded word for non-ASCII names)
    tz: timezone
    client: int  # Message-ID style


@dataclass(slots=True)
class Thread:
    """One thread's plan; lives only until its last message has been emitted."""

    subject: str
    ids: list[str] = field(default_factory=list)  # Message-IDs emitted so far
    refs: list[list[str]] = field(default_factory=list)
    snippets: list[str] = field(default_factory=list)  # first paragraph, for quoting
    dates: list[str] = field(default_factory=list)  # Date header values, for quoting
    specs: list[Spec] = field(default_factory=list)
    spam: bool = False


@dataclass(frozen=True, slots=True)
class Item:
    data: bytes
    envelope: str
    date: datetime
    is_root: bool


def wrap(words: list[str], width: int = 72) -> str:
    lines: list[str] = []
    cur: list[str] = []
    size = 0
    for w in words:
        if size + len(w) + 1 > width and cur:
            lines.append(" ".join(cur))
            cur, size = [], 0
        cur.append(w)
        size += len(w) + 1
    lines.append(" ".join(cur))
    return "\n".join(lines)


class Pools:
    """Pre-built text so each message costs a few random picks, not fresh prose."""

    def __init__(self, rng: random.Random) -> None:
        self.people = [self._person(rng, i) for i in range(900)]
        self.plain = [self._para(rng, ()) for _ in range(1500)]
        self.latin1 = [self._para(rng, LATIN1) for _ in range(300)]
        self.cp1252 = [self._para(rng, CP1252) for _ in range(300)]
        self.utf8 = [self._para(rng, LATIN1 + CP1252 + ["Łódź", "日本語", "Ελληνικά"])
                     for _ in range(300)]

    @staticmethod
    def _person(rng: random.Random, i: int) -> Person:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first[0]}.{last}".lower().replace("'", "")
        local = local.encode("ascii", "ignore").decode() or "user"
        name, addr = f"{first} {last}", f"{local}{i}@{rng.choice(ORGS)}"
        shown = formataddr((name, addr)) if name.isascii() else (
            f"{Header(name, 'utf-8').encode()} <{addr}>")
        return Person(name, addr, shown, TZS[i % len(TZS)], i % 4)

    @staticmethod
    def _para(rng: random.Random, extra: tuple[str, ...] | list[str]) -> str:
        words = rng.choices(WORDS, k=rng.randint(15, 70))
        for _ in range(rng.randint(1, 3) if extra else 0):
            words.insert(rng.randrange(len(words)), rng.choice(extra))
        words[0] = words[0].capitalize()
        return wrap(words) + rng.choice([".", ".", ".", "?", "!"])


def thread_sizes(rng: random.Random, n: int) -> Iterator[int]:
    """Sizes summing to exactly n: 20% single messages, the rest 2-20 skewed short."""
    left = n
    while left > 0:
        size = 1 if rng.random() < 0.2 else 2 + min(18, int(rng.expovariate(1 / 2.2)))
        size = min(size, left)
        left -= size
        yield size


def plan_replies(rng: random.Random, size: int, room: float, n_people: int) -> list[Spec]:
    """Reply offsets (seconds after the root), authors and parents; squeezed to fit `room`."""
    t, specs = 0.0, [(0.0, rng.randrange(n_people), -1)]
    for i in range(1, size):
        t += rng.lognormvariate(8.5, 1.3)  # median ~1.4 h, long tail to days
        parent = i - 1 if rng.random() < 0.6 else rng.randrange(i)
        author = specs[0][1] if rng.random() < 0.2 else rng.randrange(n_people)
        specs.append((t, author, parent))
    if t > room:
        specs = [(off * room / t * 0.98, a, p) for off, a, p in specs]
    return specs


class Writer:
    """Renders one message at a time; all randomness comes from the one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pools = Pools(rng)
        self.count = 0

    # --- identifiers and headers -------------------------------------------------------
    def message_id(self, p: Person) -> str:
        self.count += 1
        bits, n = self.rng.getrandbits(128), self.count
        if p.client == 0:
            tok = base64.urlsafe_b64encode(bits.to_bytes(16, "big")).decode().rstrip("=")
            return f"<CA{tok}{n:x}@mail.example.com>"
        if p.client == 1:
            return f"<SJ0PR11MB{n:06d}{bits:032X}@SJ0PR11MB{n % 9000:04d}.prod.example.net>"
        if p.client == 2:
            h = f"{bits:032X}"
            return f"<{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}.{n}@{p.addr.split('@')[1]}>"
        return f"<{bits:x}.{n}@{p.addr.split('@')[1]}>"

    def received(self, p: Person, date: datetime) -> list[str]:
        rng, sender = self.rng, p.addr.split("@")[1]
        hops = [("mail.lists.example.org", "203.0.113.10", "mx.reader.example.net"),
                ("localhost", "127.0.0.1", "mail.lists.example.org"),
                (f"smtp.{sender}", f"198.51.100.{rng.randrange(1, 255)}", "mail.lists.example.org")]
        hops += [(f"client{k}.{sender}", f"192.0.2.{rng.randrange(1, 255)}", f"smtp.{sender}")
                 for k in range(rng.randrange(0, 4))]
        out = []
        for k, (frm, ip, by) in enumerate(hops):
            when = format_datetime(date + timedelta(seconds=(len(hops) - k) * 2 + 1))
            out.append(f"Received: from {frm} ({frm} [{ip}])\n\tby {by} (Postfix) with ESMTPS"
                       f" id {rng.getrandbits(40):010X}\n\tfor <{LIST_ADDR}>; {when}")
        return out

    def dkim(self, p: Person, date: datetime) -> str:
        sig = base64.b64encode(self.rng.randbytes(256)).decode()
        body_hash = base64.b64encode(self.rng.randbytes(32)).decode()
        folded = "\n\t ".join(sig[i:i + 72] for i in range(0, len(sig), 72))
        return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n"
                f"\td={p.addr.split('@')[1]}; s=sel2025; t={int(date.timestamp())};\n"
                f"\th=from:to:subject:date:message-id:in-reply-to:references:mime-version;\n"
                f"\tbh={body_hash};\n\tb={folded}")

    @staticmethod
    def list_headers(msgid: str, p: Person) -> list[str]:
        mid_hash = base64.b32encode(hashlib.sha1(msgid.strip("<>").encode()).digest()).decode()
        arch = f"https://{LIST_HOST}/archives/list/{LIST_ADDR}"
        return [f"Message-ID-Hash: {mid_hash}", f"X-Message-ID-Hash: {mid_hash}",
                f"X-MailFrom: {p.addr}", "X-Mailman-Version: 3.3.9", "Precedence: list",
                f'List-Id: "{LIST_NAME}" <bench-list.{LIST_HOST}>',
                f"Archived-At: <{arch}/message/{mid_hash}/>", f"List-Archive: <{arch}/>",
                f"List-Help: <mailto:bench-list-request@{LIST_HOST}?subject=help>",
                f"List-Owner: <mailto:bench-list-owner@{LIST_HOST}>",
                f"List-Post: <mailto:{LIST_ADDR}>",
                f"List-Subscribe: <mailto:bench-list-join@{LIST_HOST}>",
                f"List-Unsubscribe: <mailto:bench-list-leave@{LIST_HOST}>"]

    def subject(self, t: Thread, idx: int, auto: bool) -> str:
        if auto:
            return f"Out of Office: {t.subject}"
        if idx == 0:
            return f"[SPAM] {t.subject}" if t.spam and self.rng.random() < 0.5 else \
                f"{TAG} {t.subject}"
        r = self.rng.random()
        prefix = "Re:" if r < 0.8 else ("RE:" if r < 0.9 else ("AW:" if r < 0.95 else "Re: Re:"))
        if self.rng.random() < 0.8:
            return f"{TAG} {prefix} {t.subject}"
        return f"{prefix} {TAG} {t.subject}"

    # --- bodies ---------------------------------------------------------------------------
    def text(self, t: Thread, idx: int, parent: int, charset: str) -> str:
        rng, pools = self.rng, self.pools
        paras = [rng.choice(pools.plain) for _ in range(rng.randint(1, 4))]
        if charset != "us-ascii" and rng.random() < 0.7:
            extra = {"utf-8": pools.utf8, "iso-8859-1": pools.latin1}.get(charset, pools.cp1252)
            paras.insert(rng.randrange(len(paras) + 1), rng.choice(extra))
        if rng.random() < 0.01:
            paras.append("From what I can see in the logs, " + rng.choice(pools.plain))
        t.snippets.append(paras[0])
        body = "\n\n".join(paras)
        if parent >= 0 and rng.random() < 0.75:
            who = self.pools.people[t.specs[parent][1]]
            quote = "> " + t.snippets[parent].replace("\n", "\n> ")
            body += f"\n\nOn {t.dates[parent]}, {who.name} <{who.addr}> wrote:\n{quote}"
        return body + "\n"

    def text_part(self, body: str, charset: str, footer: bool) -> bytes:
        if footer:
            body += "\n" + FOOTER
        try:
            raw = body.encode(charset)
        except UnicodeEncodeError:  # a quoted parent in another charset: send UTF-8, as MUAs do
            charset, raw = "utf-8", body.encode("utf-8")
        if raw.isascii():
            cte, payload = "7bit", raw
        else:
            r = self.rng.random()
            if r < 0.55:
                cte, payload = "quoted-printable", binascii.b2a_qp(raw)
            elif r < 0.85 or charset != "utf-8":
                cte, payload = "8bit", raw
            else:
                cte, payload = "base64", base64.encodebytes(raw)
        head = f'Content-Type: text/plain; charset="{charset}"\nContent-Transfer-Encoding: {cte}\n'
        return head.encode() + b"\n" + payload

    @staticmethod
    def html_part(body: str) -> bytes:
        esc = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        html = '<div dir="ltr"><p>' + esc.replace("\n\n", "</p>\n<p>").replace(
            "\n", "<br>\n") + "</p></div>\n"
        return (b'Content-Type: text/html; charset="utf-8"\n'
                b"Content-Transfer-Encoding: quoted-printable\n\n" + binascii.b2a_qp(
                    html.encode("utf-8")))

    def attachment(self) -> bytes:
        rng = self.rng
        size = int(2048 * 100 ** rng.random())  # log-uniform, 2 KB .. 200 KB
        name = f"report-{rng.randrange(10**6):06d}.pdf"
        data = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + rng.randbytes(size) + b"\n%%EOF\n"
        return (f'Content-Type: application/pdf; name="{name}"\n'
                f'Content-Disposition: attachment; filename="{name}"\n'
                "Content-Transfer-Encoding: base64\n\n").encode() + base64.encodebytes(data)

    def multipart(self, kind: str, parts: list[bytes]) -> bytes:
        boundary = f"===============_{self.rng.getrandbits(64):016x}=="
        sep = f"--{boundary}\n".encode()
        inner = b"".join(sep + part.rstrip(b"\n") + b"\n" for part in parts)
        head = f'Content-Type: multipart/{kind}; boundary="{boundary}"\n\n'.encode()
        return head + inner + f"--{boundary}--\n".encode()

    def mime_body(self, body: str, charset: str) -> bytes:
        """Mailman 3 appends the footer inline to a lone text part, else as its own part."""
        r = self.rng.random()
        attach = r < 0.05  # 5% carry a PDF; 40% in all have an HTML alternative
        alternative = r < 0.02 or 0.05 <= r < 0.43
        if not attach and not alternative:
            return self.text_part(body, charset, footer=True)
        content = self.text_part(body, charset, footer=False)
        if alternative:
            content = self.multipart("alternative", [content, self.html_part(body)])
        footer = b'Content-Type: text/plain; charset="us-ascii"\n' \
                 b"Content-Disposition: inline\n\n" + FOOTER.encode()
        parts = [content, self.attachment(), footer] if attach else [content, footer]
        return self.multipart("mixed", parts)

    # --- one message ----------------------------------------------------------------------
    def render(self, t: Thread, idx: int, date: datetime) -> Item:
        rng = self.rng
        _, author_ix, parent = t.specs[idx]
        p = self.pools.people[author_ix]
        auto = parent >= 0 and rng.random() < 0.005
        msgid = self.message_id(p)
        heads = [*self.received(p, date), self.dkim(p, date)]
        if rng.random() < 0.05:
            shown = formataddr((f"{p.name} via {LIST_NAME}", LIST_ADDR)) if p.name.isascii() \
                else f"{Header(p.name + ' via ' + LIST_NAME, 'utf-8').encode()} <{LIST_ADDR}>"
            heads += [f"From: {shown}", f"Reply-To: {p.shown}"]
        else:
            heads.append(f"From: {p.shown}")
        t.dates.append(format_datetime(date.astimezone(p.tz)))
        heads += [f"To: {LIST_ADDR}", f"Subject: {self.subject(t, idx, auto)}",
                  f"Date: {t.dates[-1]}", f"Message-ID: {msgid}"]
        heads += self.thread_headers(t, parent, msgid)
        if auto:
            heads.append("Auto-Submitted: auto-replied")
        if t.spam:
            heads += ["X-Spam-Flag: YES", "X-Spam-Status: Yes, score=8.7 required=5.0"]
        charset = rng.choices(["utf-8", "iso-8859-1", "windows-1252", "us-ascii"],
                              [70, 12, 10, 8])[0]
        body = self.mime_body(self.text(t, idx, parent, charset), charset)
        heads += ["MIME-Version: 1.0", *self.list_headers(msgid, p)]
        data = ("\n".join(heads) + "\n").encode() + body
        return Item(data, p.addr, date, parent < 0)

    def thread_headers(self, t: Thread, parent: int, msgid: str) -> list[str]:
        refs = [] if parent < 0 else [*t.refs[parent], t.ids[parent]]
        t.ids.append(msgid)
        t.refs.append(refs)
        if parent < 0:
            return []
        if self.rng.random() < 0.04:  # web front-end: bare id, no References
            return [f"In-Reply-To: {t.ids[parent].strip('<>')}"]
        return [f"In-Reply-To: {t.ids[parent]}", "References: " + "\n ".join(refs)]


def _items(n: int, seed: int, end: datetime, years: float) -> Iterator[Item]:
    rng = random.Random(seed)
    writer = Writer(rng)
    sizes = list(thread_sizes(random.Random(seed + 1), n))  # ints only: a few hundred KB
    start, span = end - timedelta(days=365 * years), timedelta(days=365 * years).total_seconds()
    pending: list[tuple[float, int, Thread, int]] = []
    seq = 0
    for i, size in enumerate(sizes):
        root_at = start.timestamp() + span * (i + rng.random() * 0.9) / len(sizes)
        while pending and pending[0][0] <= root_at:
            at, _, t, idx = heapq.heappop(pending)
            yield writer.render(t, idx, datetime.fromtimestamp(at, UTC))
        words = rng.choice(TOPICS)
        subject = rng.choice(QUESTION).format(t=words, T=words[0].upper() + words[1:])
        room = end.timestamp() - root_at
        specs = plan_replies(rng, size, min(room, 20 * 86400), len(writer.pools.people))
        t = Thread(subject, specs=specs, spam=size == 1 and rng.random() < 0.05)
        yield writer.render(t, 0, datetime.fromtimestamp(root_at, UTC))
        for idx in range(1, size):
            seq += 1
            heapq.heappush(pending, (root_at + specs[idx][0], seq, t, idx))
    while pending:
        at, _, t, idx = heapq.heappop(pending)
        yield writer.render(t, idx, datetime.fromtimestamp(at, UTC))


def generate(n: int, seed: int = 1, end: datetime = DEFAULT_END,
             years: float = 3.0) -> Iterator[bytes]:
    """Yield the raw bytes of n list messages in arrival (date) order; same seed, same bytes."""
    for item in _items(n, seed, end, years):
        yield item.data


FROM_LINE = re.compile(rb"(?m)^(>*From )")


def mbox_chunk(item: Item) -> bytes:
    """One mboxrd entry: "From " line, body with ">From " escaping, blank line."""
    stamp = item.date.strftime("%a %b %e %H:%M:%S %Y")
    return (f"From {item.envelope} {stamp}\n".encode() + FROM_LINE.sub(rb">\1", item.data)
            + b"\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=50000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--end", default=DEFAULT_END.date().isoformat(),
                    help="date of the last message, YYYY-MM-DD (UTC, 18:00)")
    ap.add_argument("--years", type=float, default=3.0)
    args = ap.parse_args(argv)
    end = datetime.fromisoformat(args.end).replace(hour=18, tzinfo=UTC)
    messages = threads = size = 0
    with args.out.open("wb") as out:
        for item in _items(args.messages, args.seed, end, args.years):
            chunk = mbox_chunk(item)
            out.write(chunk)
            messages, threads, size = messages + 1, threads + item.is_root, size + len(chunk)
    print(f"messages={messages} threads={threads} bytes={size} out={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
