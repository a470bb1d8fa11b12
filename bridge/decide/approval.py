"""Moderator approval by email, the pure rules: the per-item token, reading a moderator's answer
(who sent it, did it pass authentication, approve or reject), expiry, and what an answer does.

A request is named by a token, an HMAC of (kind, item) under the bridge's secret key: it is put in
the request's Subject (and, when configured, in a plus-address Reply-To), so a reply carries it
back. A token nobody was sent is simply unknown; a guessed one would need the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from bridge.decide.evidence import RULES
from bridge.mail.headers import clean_message_id, decode_value, parse_address
from bridge.mail.quotes import drop_quotes
from bridge.model import Mail

APPROVE, REJECT = "approve", "reject"
VERDICTS = (APPROVE, REJECT)
POST, REPLY = "post", "reply"
OPEN, APPROVED, REJECTED, EXPIRED, CLOSED = "open", "approved", "rejected", "expired", "closed"
MODES = ("held", "all")
MODERATION_PREFIX = "moderation: "  # the reason of a row the matcher held (stages.publish)
TOKEN_LENGTH = 32  # hex digits: 128 bits of the HMAC-SHA256
MESSAGE_ID_PREFIX = "lsb-approval."
_TOKEN = rf"[0-9a-f]{{{TOKEN_LENGTH}}}"
_SUBJECT_TOKEN = re.compile(rf"\[lsb-approval:({_TOKEN})\]", re.IGNORECASE)
_PLUS_TOKEN = re.compile(rf"\+lsb-({_TOKEN})@", re.IGNORECASE)
_ID_TOKEN = re.compile(rf"^{re.escape(MESSAGE_ID_PREFIX)}({_TOKEN})\.", re.IGNORECASE)
_FIRST_WORD = re.compile(r"[^\W\d_]+")
_AUTH_RESULT = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*([a-z]+)", re.IGNORECASE)
_ADDRESS_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
_PARSER = BytesParser(policy=compat32)


@dataclass(frozen=True, slots=True)
class ApprovalSettings:
    """[moderation] keys of approval by email. No moderators: approval by email is off."""

    moderators: frozenset[str] = frozenset()  # addr-specs, lower-case
    approval: str = "held"  # held: held posts and replies; all: every post waits for approval
    folder: str = ""  # where answers arrive; "" = the [imap] folder
    expiry: timedelta = timedelta(days=3)
    plus_address: bool = False  # Reply-To local+lsb-<token>@domain (the server must deliver it)

    @property
    def enabled(self) -> bool:
        return bool(self.moderators)

    @property
    def hold_all(self) -> bool:
        return self.approval == "all"


@dataclass(frozen=True, slots=True)
class Answer:
    """A moderator's answer as read at ingest: what it says, not yet whether it counts."""

    message_id: str
    token: str  # "" when none was found
    from_address: str  # "" when From is not exactly one plain addr-spec
    verdict: str  # approve | reject | ""
    problem: str = ""  # why it cannot count whatever the request (auto-reply, failed auth)


@dataclass(frozen=True, slots=True)
class RequestState:
    token: str
    kind: str  # post | reply
    item_id: str
    status: str  # open | approved | rejected | expired | closed
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    action: str  # approve | reject | ignore
    reason: str


# -- the token -------------------------------------------------------------------------------
def make_token(key: bytes, kind: str, item_id: str) -> str:
    """The request's token: HMAC-SHA256(key, kind NUL item), truncated hex."""
    message = b"listserv-bridge approval\0" + f"{kind}\0{item_id}".encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:TOKEN_LENGTH]


def subject_tag(token: str) -> str:
    return f"[lsb-approval:{token}]"


def strip_tags(text: str) -> str:
    """`text` without anything that reads as a request's tag."""
    return " ".join(_SUBJECT_TOKEN.sub(" ", text).split())


def plus_address(address: str, token: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}+lsb-{token}@{domain}"


def request_message_id(token: str, nonce: str, domain: str) -> str:
    return f"{MESSAGE_ID_PREFIX}{token}.{nonce}@{domain}"


def find_tokens(subject: str, addresses: Iterable[str], message_ids: Iterable[str]) -> list[str]:
    """Every token a message carries: in the Subject, a plus-address, or a request's Message-ID
    it answers (In-Reply-To/References); lower-case, first found first, no repeats."""
    found = _SUBJECT_TOKEN.findall(subject)
    for address in addresses:
        found += _PLUS_TOKEN.findall(address)
    for message_id in message_ids:
        found += _ID_TOKEN.findall(message_id)
    return list(dict.fromkeys(t.lower() for t in found))


def is_approval_mail(mail: Mail) -> bool:
    """Mail about an approval request (an answer, or the request itself coming back): it is
    never a list question, never relayed; ingest hands it to the approval stage instead."""
    return bool(find_tokens(mail.subject, (), (mail.message_id, *mail.references)))


# -- reading an answer -----------------------------------------------------------------------
def read_verdict(text: str) -> str:
    """approve | reject when that is the first word of the reply (any case, quoted text and the
    attribution above it ignored); "" otherwise."""
    for line in drop_quotes(text.splitlines()):
        if line.strip():
            word = _FIRST_WORD.search(line)
            first = word.group(0).lower() if word else ""
            return first if first in VERDICTS else ""
    return ""


def auth_failure(results: Iterable[str]) -> str:
    """Why Authentication-Results say the sender is not who From says ("" = no failure seen).
    Only failures count: a forged header claiming "pass" gains nothing, one claiming "fail" only
    hurts its own sender."""
    seen: dict[str, set[str]] = {}
    for value in results:
        for method, result in _AUTH_RESULT.findall(value):
            seen.setdefault(method.lower(), set()).add(result.lower())
    dkim_pass = "pass" in seen.get("dkim", set())
    if "fail" in seen.get("dmarc", set()):
        return "DMARC failed (Authentication-Results)"
    for method in ("dkim", "spf"):
        if seen.get(method, set()) & {"fail"} and not dkim_pass:
            return f"{method.upper()} failed (Authentication-Results)"
    return ""


def read_answer(raw: bytes) -> Answer:
    """An email that carries an approval token, read as an answer."""
    from bridge.mail.parse import extract_body  # the MIME body reader loads only for answers

    msg = _PARSER.parsebytes(raw)
    message_id = clean_message_id(decode_value(msg.get("Message-ID"))) or ""
    froms = msg.get_all("From") or []
    from_address = parse_address(decode_value(froms[0]))[1] if len(froms) == 1 else ""
    addresses = [decode_value(v) for name in _ADDRESS_HEADERS for v in msg.get_all(name) or []]
    refs = [clean_message_id(r) or "" for name in ("In-Reply-To", "References")
            for r in decode_value(msg.get(name)).split()]
    tokens = find_tokens(decode_value(msg.get("Subject")), addresses, refs)
    return Answer(message_id, tokens[0] if tokens else "", from_address,
                  read_verdict(extract_body(raw)), _problem(msg, tokens))


def _problem(msg: Message, tokens: list[str]) -> str:
    automatic = decode_value(msg.get("Auto-Submitted")).lower()
    if automatic and automatic != "no":
        return f"automatic mail (Auto-Submitted: {automatic})"
    if len(set(tokens)) > 1:
        return "carries tokens of several requests"
    return auth_failure(decode_value(v) for v in msg.get_all("Authentication-Results") or [])


def explain_rule(fired: str) -> str:
    """"QUESTION_SENTENCE=+3" with what the rule means, from the matcher's table of rules."""
    meaning = RULES.get(fired.partition("=")[0], (0.0, ""))[1]
    return f"{fired} ({meaning})" if meaning else fired


def evidence_lines(reason: str) -> tuple[str, ...]:
    """A held row's reason as the lines the moderators read: "; " separates reasons, and the
    matcher's "moderation: A=+1.0, B=-2.0" names one piece of evidence per rule."""
    lines: list[str] = []
    for part in (p.strip() for p in reason.split("; ")):
        if part.startswith(MODERATION_PREFIX):
            rules = [r.strip() for r in part.removeprefix(MODERATION_PREFIX).split(", ")]
            lines += [f"evidence: {explain_rule(r)}" for r in rules if r]
        elif part:
            lines.append(part)
    return tuple(lines)


# -- deciding --------------------------------------------------------------------------------
def judge_answer(answer: Answer, request: RequestState | None, moderators: frozenset[str],
                 received: datetime) -> Outcome:
    """What a stored answer does: approve or reject its request, or nothing (with the reason).
    `received`: when ingest stored it; an answer that arrived in time counts."""
    if answer.problem:
        return Outcome("ignore", answer.problem)
    if request is None:
        return Outcome("ignore", "no request has this token")
    if not answer.from_address or answer.from_address not in moderators:
        return Outcome("ignore", f"not from a moderator ({answer.from_address or 'no plain From'})")
    if not answer.verdict:
        return Outcome("ignore", 'the first word is neither "approve" nor "reject"')
    if request.status != OPEN:
        return Outcome("ignore", f"the request is already {request.status}")
    if received >= request.expires_at:
        return Outcome("ignore", "the request has expired")
    done = APPROVED if answer.verdict == APPROVE else REJECTED
    return Outcome(answer.verdict, f"{done} by {answer.from_address} by email")


def describe_request(status: str, send_status: str, expires: datetime, reason: str) -> str:
    """One line for the admin's listings: where the request to the moderators stands."""
    if status == OPEN:
        sent = "sent to the moderators" if send_status == "sent" else f"email {send_status}"
        return f"approval by email: {sent}, open until {expires:%Y-%m-%d %H:%M}Z"
    return f"approval by email: {status}" + (f" ({reason})" if reason else "")


def expires_at(created: datetime, settings: ApprovalSettings) -> datetime:
    return created + settings.expiry


def expiry_reason(settings: ApprovalSettings) -> str:
    days = settings.expiry.total_seconds() / 86400
    span = f"{days:g} days" if days >= 1 else f"{settings.expiry.total_seconds() / 3600:g} hours"
    return f"no moderator answered within {span}"
