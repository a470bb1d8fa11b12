"""Build the relay email that carries approved X replies to the list: pure, values in, bytes out.

Every header value is built here from `str` values that went through `clean_line` (no controls,
line or paragraph separators, lone surrogates, bidi overrides or encoded-word openers), never from
parsed header objects: Python 3.11.7 lacks the CVE-2024-6923 fix, and `policy.default` raises on
a stray CR/LF, so one hostile display name from X must neither inject a header nor crash us.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from typing import TYPE_CHECKING

from bridge.compose.post import ComposeSettings, clean_subject, make_template_env
from bridge.decide.handles import clean_username, strip_leading_mentions
from bridge.mail.clean import starts_as_reply
from bridge.mail.echo import TOKEN_HEADER, make_token
from bridge.model import Mail, Secret

if TYPE_CHECKING:  # jinja2 loads where an environment is built (make_template_env)
    import jinja2

TEMPLATE_NAME = "relay.txt.j2"
MAX_NAME = 64  # characters of an X display name we show
MAX_DISPLAY = 70  # the whole From display name (see display_name)
MAX_SUBJECT = 200
MAX_TEXT = 10_000  # X posts are shorter; anything longer is cut with a note
MAX_REFERENCES = 20
MAX_ID = 250  # a longer Message-ID is left out of the threading headers (RFC 5322 lines <= 998)
FOLD_AT = 78  # RFC 5322's preferred line length; an id longer than that gets a line of its own
_MESSAGE_ID = re.compile(r"[!-~]+@[!-~]+")  # printable ASCII, no spaces
_BAD_IN_ID = re.compile(r"[<>()\[\],;:\\\"]")
# Bidi embeddings/overrides/isolates and the BOM can make a name read as something else.
_INVISIBLE = re.compile(r"[\u202a-\u202e\u2066-\u2069\ufeff\u200e\u200f\u061c]")
_NAME_SPECIALS = re.compile(r"[\"\\<>@()\[\]]")


# "refold_source=none": our pre-folded raw id headers are written as they are (each line is
# short or one id); headers set as values are still folded by the SMTP policy as usual.
_POLICY = policy.SMTP.clone(refold_source="none")


class RelayBuildError(ValueError):
    """The relay email could not be built safely from these replies."""


@dataclass(frozen=True)
class RelaySettings:
    """Who the relay email is from and to, and how the relaying stage paces itself."""

    from_address: str  # the bridge's own mailbox (its domain passes DMARC), never the list's
    list_address: str
    admin_contact: str  # how readers reach the person running the bridge (address or URL)
    from_name: str = "Solo Librarians Bridge"
    batch_window: timedelta = timedelta(minutes=30)
    resend_grace: timedelta = timedelta(minutes=30)
    give_up_after: timedelta = timedelta(days=3)
    retry_base: timedelta = timedelta(minutes=5)  # first backoff after a failure that sent nothing
    message_id_domain: str = ""  # "" = the domain of from_address
    token_secret: Secret | None = field(default=None, repr=False)
    template_dir: str | None = None

    @property
    def id_domain(self) -> str:
        return self.message_id_domain or self.from_address.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class ReplyItem:
    """One approved reply from X, as relayed."""

    reply_id: str
    author_name: str
    author_username: str
    text: str
    url: str
    created_at: datetime
    network: str = "x"


# --- cleaning: every string that reaches a header or the body goes through one of these ---


def _drop_unsafe(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cs")  # lone surrogates
    return _INVISIBLE.sub("", text)


def clean_line(text: str, limit: int) -> str:
    """One safe line for a header: no controls or separators, no encoded-word opener, <= limit."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                   for ch in _drop_unsafe(text))
    text = " ".join(text.replace("=?", "= ?").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clean_text(text: str) -> str:
    """Body text: newlines normalised, other controls removed, at most MAX_TEXT characters."""
    text = re.sub(r"\r\n?|[\u2028\u2029\x85\x0b\x0c]", "\n", _drop_unsafe(text))
    text = "".join(ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else " " for ch in text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT].rstrip() + "\n[… cut: too long]"


def strip_reply_mentions(text: str) -> str:
    """Drop the "@bridge @asker" run X puts in front of a reply: noise on a mailing list.
    A reply that is nothing but mentions keeps them (it is held earlier as too short anyway)."""
    stripped = strip_leading_mentions(text)
    return stripped if stripped.strip() else text


def clean_name(name: str) -> str:
    """An X display name fit for a From display name: specials that could mimic an address go."""
    return clean_line(_NAME_SPECIALS.sub(" ", name), MAX_NAME)


def check_reply(item: ReplyItem) -> str | None:
    """Why this reply cannot be relayed (it is then held), or None when it can."""
    if not clean_name(item.author_name) and not clean_username(item.author_username):
        return "no usable author name or username"
    if not clean_text(item.text).strip():
        return "empty text after cleaning"
    url = item.url.strip()
    if not re.fullmatch(r"https://[!-~]+", url) or "=?" in url:
        return f"link to {network_label(item.network)} missing or not a plain https URL"
    return None


# --- headers ---


def _name_and_handle(item: ReplyItem) -> tuple[str, str]:
    """The cleaned name and handle; no name when it only repeats the handle (a Bluesky account
    without a display name is stored under its handle: "@ana.test", not "ana.test (@ana.test)")."""
    name, handle = clean_name(item.author_name), clean_username(item.author_username)
    return ("" if name.lower() in (handle.lower(), f"@{handle.lower()}") else name), handle


def author_label(item: ReplyItem) -> str:
    """ "Jane Doe (@jane)", "Jane Doe" or "@jane"."""
    name, handle = _name_and_handle(item)
    if name and handle:
        return f"{name} (@{handle})"
    return name or f"@{handle}"


def display_name(replies: list[ReplyItem], settings: RelaySettings) -> str:
    """ "Jane Doe (@jane) via <bridge>" for one author; "Replies from X via <bridge>" for several.

    At most MAX_DISPLAY characters: Python 3.11's folder drops the quotes of a quoted display
    name it has to split over two lines (turning "a: b" into group syntax), so the name must fit
    on one folded line. The person's name is shortened first; `_verify` checks the result.
    """
    bridge = clean_name(settings.from_name)[:30] or "listserv-bridge"
    suffix = f" via {bridge}"
    authors = {(clean_username(r.author_username).lower(), clean_name(r.author_name)) for r in replies}
    if len(authors) > 1:
        return f"Replies from {networks_label(replies)}{suffix}"
    name, handle = _name_and_handle(replies[0])
    tag = f" (@{handle})" if handle and name else (f"@{handle}" if handle else "")
    room = MAX_DISPLAY - len(suffix) - len(tag)
    if len(name) > room:
        name = name[: room - 1].rstrip() + "…"
    return f"{name}{tag}{suffix}"


def relay_subject(subject: str) -> str:
    """ "Re: " + the question's subject as written (list tag kept), without stacking "Re: Re:"."""
    text = clean_line(subject, MAX_SUBJECT)
    if not text:
        return "Re: (no subject)"
    return text if starts_as_reply(text) else f"Re: {text}"


def _valid_id(message_id: str) -> bool:
    return (len(message_id) <= MAX_ID and bool(_MESSAGE_ID.fullmatch(message_id))
            and not _BAD_IN_ID.search(message_id) and "=?" not in message_id)


def fold_ids(name: str, ids: list[str]) -> str:
    """The header value "<a> <b>...", folded between ids only (never inside one, never encoded).

    Python's SMTP policy turns an id of 76 characters or more into RFC 2047 encoded words, which
    no mail client reads as a Message-ID (every Microsoft 365 id is 78-94 characters long).
    """
    lines: list[str] = []
    line = f"{name}:"
    for item in (f"<{i}>" for i in ids):
        if line.endswith(":") or len(line) + 1 + len(item) <= FOLD_AT:
            line = f"{line} {item}"
        else:
            lines.append(line)
            line = f" {item}"
    lines.append(line)
    return "\n".join(lines)[len(name) + 2:]


def parse_ids(value: str) -> list[str]:
    """The ids of an In-Reply-To/References value, folding removed."""
    return re.findall(r"<([^<>\s]+)>", value)


def thread_ids(question: Mail) -> tuple[str | None, list[str]]:
    """(In-Reply-To id, References ids) for a reply to `question`; unsafe ids are left out."""
    if not question.has_message_id or not _valid_id(question.message_id):
        return None, []
    refs: list[str] = []
    for ref in (*question.references, question.message_id):
        if _valid_id(ref) and ref not in refs:
            refs.append(ref)
    if len(refs) > MAX_REFERENCES:  # RFC 5322 3.6.4: keep the first and the most recent ones
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1):]]
    return question.message_id, refs


# --- the email ---


@functools.lru_cache(maxsize=4)
def _template_env(template_dir: str | None) -> jinja2.Environment:
    """One Jinja environment per template directory, built once (it caches compiled templates
    and reloads a file the admin changed); building one per email cost half a relay's time."""
    return make_template_env(ComposeSettings(template_dir=template_dir))


NETWORK_LABELS = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky"}


def network_label(network: str) -> str:
    return NETWORK_LABELS.get(network, network)


def networks_label(replies: list[ReplyItem]) -> str:
    """ "X", "Mastodon" or "Bluesky and Mastodon": where these replies were written."""
    names = sorted({network_label(r.network) for r in replies})
    return " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1]


def render_body(question: Mail, replies: list[ReplyItem], settings: RelaySettings) -> str:
    env = _template_env(settings.template_dir)
    items = [
        {"author": author_label(r), "text": clean_text(strip_reply_mentions(r.text)),
         "url": r.url.strip(), "network": network_label(r.network),
         "date": r.created_at.strftime("%Y-%m-%d %H:%M UTC")}
        for r in replies
    ]
    text = env.get_template(TEMPLATE_NAME).render(
        question_subject=clean_line(clean_subject(question.subject) or question.subject, MAX_SUBJECT),
        question_date=question.date.strftime("%Y-%m-%d"),
        replies=items, several=len({i["author"] for i in items}) > 1,
        networks=networks_label(replies), only_x=all(r.network == "x" for r in replies),
        bridge_name=clean_name(settings.from_name), admin_contact=clean_line(settings.admin_contact, 200),
    )
    return clean_text(text) + "\n"


def build_relay_mail(
    question: Mail, replies: list[ReplyItem], settings: RelaySettings, message_id: str,
    *, date: datetime, key: bytes,
) -> bytes:
    """The relay email's exact bytes (CRLF, ASCII headers, UTF-8 quoted-printable body).

    Raises RelayBuildError when a reply is not relayable (see `check_reply`) or the result does
    not parse back to exactly the headers we meant to write.
    """
    if not replies:
        raise RelayBuildError("no replies to relay")
    for item in replies:
        reason = check_reply(item)
        if reason:
            raise RelayBuildError(f"reply {item.reply_id}: {reason}")
    if not _valid_id(message_id):
        raise RelayBuildError(f"invalid Message-ID {message_id!r}")
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = Address(display_name=display_name(replies, settings), addr_spec=settings.from_address)
    msg["To"] = Address(addr_spec=settings.list_address)
    msg["Subject"] = relay_subject(question.subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    parent, refs = thread_ids(question)
    if parent:  # set as pre-folded raw values: the policy would encode long ids (see fold_ids)
        msg.set_raw("In-Reply-To", fold_ids("In-Reply-To", [parent]))
        msg.set_raw("References", fold_ids("References", refs))
    msg[TOKEN_HEADER] = make_token(key, message_id)
    msg.set_content(render_body(question, replies, settings), charset="utf-8", cte="quoted-printable")
    raw = msg.as_bytes()
    _verify(raw, [k.lower() for k in msg], settings)
    _verify_threading(raw, parent, refs)
    return raw


def _verify_threading(raw: bytes, parent: str | None, refs: list[str]) -> None:
    """In-Reply-To and References parse back to exactly the ids we meant (no encoded words)."""
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    got_parent, got_refs = parse_ids(str(parsed["In-Reply-To"] or "")), parse_ids(
        str(parsed["References"] or ""))
    want_parent = [parent] if parent else []
    if got_parent != want_parent or got_refs != (refs if parent else []):
        raise RelayBuildError("In-Reply-To/References do not parse back to the intended ids")


def _verify(raw: bytes, expected: list[str], settings: RelaySettings) -> None:
    """Parse our own bytes back: exactly the headers we set, each line within RFC 5322's 998,
    and From/To naming exactly the bridge and the list (no group syntax, no extra address)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    if any(len(line) > 998 for line in head.split(b"\r\n")) or not head.isascii():
        raise RelayBuildError("a header line is too long or not ASCII")
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    if [k.lower() for k in parsed] != expected or parsed.defects:
        raise RelayBuildError("the built email does not parse back to the intended headers")
    strict = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    for name, address in (("From", settings.from_address), ("To", settings.list_address)):
        header = strict[name]
        if header.groups[0].display_name is not None or [a.addr_spec for a in header.addresses] != [address]:
            raise RelayBuildError(f"the built {name} header does not parse back to {address}")
