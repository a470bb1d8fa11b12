"""Decide a message's flags (automated, bounce, out-of-office, spam, no-archive) from headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from bridge.mail.clean import split_subject_tags
from bridge.mail.headers import parse_address
from bridge.model import Flag


class HeaderLookup(Protocol):
    """email.message.Message, or any mapping from header name to value."""

    def get(self, name: str, /) -> Any: ...


_LIST_HEADERS = ("List-Id", "List-Post", "Mailing-List")

# --- addresses --------------------------------------------------------------------------------

_ROBOT_LOCALS = frozenset(
    {
        *("mailer-daemon", "mailerdaemon", "mailer_daemon", "postmaster"),
        *("no-reply", "noreply", "no_reply", "do-not-reply", "donotreply", "do_not_reply"),
        *("bounce", "bounces", "notifications", "notification"),
    }
)
_ROBOT_LOCAL_AFFIXES = re.compile(
    r"(?:no-?reply|do-?not-?reply)[-+._].*|bounces?[-+].*|.*[-+._](?:no-?reply|bounces?)", re.I
)
_BOUNCE_LOCALS = frozenset({"mailer-daemon", "mailerdaemon", "mailer_daemon", "postmaster"})
# Build and code-review robots that post to developer lists under plain-looking addresses.
_BOT_LOCALS = frozenset(
    {"git", "gitbox", "github", "gitlab", "jenkins", "hudson", "buildbot", "jira"}
)
_BOT_HEADERS = (
    "X-GitHub-Reason", "X-GitHub-Sender", "X-GitLab-Project", "X-Jenkins-Job",
    "X-JIRA-FingerPrint", "X-Bugzilla-Reason", "X-Gerrit-MessageType",
)  # fmt: skip


def _local_part(addr: str) -> str:
    return parse_address(addr)[1].rpartition("@")[0]


def is_robot_address(addr: str) -> bool:
    """mailer-daemon, postmaster, (do-)no(t)-reply, bounce(s), notifications@...: never a person."""
    local = _local_part(addr)
    return local in _ROBOT_LOCALS or _ROBOT_LOCAL_AFFIXES.fullmatch(local) is not None


# --- header access ----------------------------------------------------------------------------


def _values(headers: HeaderLookup, name: str) -> list[str]:
    """Every value of a header, stripped; [] when absent. Plain mappings match any key case."""
    if isinstance(headers, Mapping):
        found = [v for k, v in headers.items() if str(k).lower() == name.lower()]
    else:
        get_all = getattr(headers, "get_all", None)
        found = get_all(name) if callable(get_all) else [headers.get(name)]
    return [str(value).strip() for value in found or () if value is not None]


def _first_token(value: str) -> str:
    """ "auto-replied; owner-email=..." -> "auto-replied"."""
    return value.split(";", 1)[0].strip().lower()


# --- subjects ---------------------------------------------------------------------------------

_OOF_PHRASES = (
    r"out of (?:the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response"
    r"|abwesenheitsnotiz|abwesenheit|automatische antwort|r[ée]ponse automatique|absence|absent"
    r"|respuesta autom[áa]tica|fuera de la oficina|risposta automatica|fora do escrit[óo]rio"
    r"|resposta autom[áa]tica|afwezig|automatisch antwoord|fr[åa]nvaro|autosvar|vacation"
    r"|不在|自動応答|自動返信|自动回复|자동 응답"
)
# Autoresponders write "Phrase: original subject"; "Out of office etiquette?" asked by a person
# has no colon. A bare phrase as the whole subject also counts.
_OOF_SUBJECT = re.compile(
    rf"(?:{_OOF_PHRASES})(?:\s+(?:autoreply|auto-reply|reply|notice|message|notification))?"
    r"\s*(?:[:：].*|\(.*\)|)",
    re.I | re.S,
)
_OOF_TAG = re.compile(rf"(?:{_OOF_PHRASES})", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"(?:undelivered mail returned to sender|delivery status notification\s*\((?:failure|delay)\)"
    r"|mail delivery failed\s*:|returned mail\s*:|undeliverable\s*:|undelivered mail\s*:"
    r"|delivery failure\s*:|mail delivery failure|failure notice|message not delivered"
    r"|warning: message \S+ delayed|unzustellbar\s*:|nicht zustellbar\s*:|non remis\s*:"
    r"|non recapitabile\s*:"
    r"|no se puede entregar\s*:|onbestelbaar\s*:|kan ikke leveres\s*:)",
    re.I,
)
_SPAM_SUBJECT = re.compile(r"\[\s*spam\s*\]|\*{3,}\s*spam\s*\*{3,}|\{\s*spam\??\s*\}", re.I)
_BOT_TAGS = frozenset({"github", "jira", "jenkins", "gitlab", "ci", "buildbot"})


def _is_oof_subject(subject: str) -> bool:
    tags, rest = split_subject_tags(subject)
    if any(_OOF_TAG.fullmatch(tag) for tag in tags):
        return True
    return _OOF_SUBJECT.fullmatch(rest) is not None


def _is_bounce_subject(subject: str) -> bool:
    return _BOUNCE_SUBJECT.match(split_subject_tags(subject)[1]) is not None


# --- rules ------------------------------------------------------------------------------------


def _is_dsn(content_type: str) -> bool:
    """multipart/report; report-type=delivery-status (RFC 3464)."""
    value = content_type.lower()
    if not value.strip().startswith("multipart/report"):
        return False
    return re.search(r"report-type\s*=\s*\"?delivery-status", value) is not None


def _automated_by_headers(headers: HeaderLookup, list_stamped: bool) -> bool:
    if any(_first_token(v) not in ("", "no") for v in _values(headers, "Auto-Submitted")):
        return True
    # List servers stamp every post: ezmlm, LISTSERV and Mailman 2 "bulk" or "list", and
    # some Mailman 2 sites "junk" on every post. On list mail only auto_reply is the sender's.
    counted = {"auto_reply"} if list_stamped else {"junk", "auto_reply", "bulk"}
    if any(_first_token(v) in counted for v in _values(headers, "Precedence")):
        return True
    if any(_values(headers, name) for name in _BOT_HEADERS):
        return True
    return not list_stamped and any(v.strip("<> ") == "" for v in _values(headers, "Return-Path"))


def _is_auto_reply(headers: HeaderLookup) -> bool:
    """Vacation responders: X-Autoreply, X-Autorespond, Auto-Submitted: auto-replied."""
    if any(_first_token(v) not in ("", "no") for v in _values(headers, "X-Autoreply")):
        return True
    if any(_first_token(v) not in ("", "no") for v in _values(headers, "X-Autorespond")):
        return True
    if any(_first_token(v) == "auto_reply" for v in _values(headers, "Precedence")):
        return True
    return any(_first_token(v) == "auto-replied" for v in _values(headers, "Auto-Submitted"))


def _suppresses_oof(headers: HeaderLookup) -> bool:
    """Outlook marks its own auto-replies "X-Auto-Response-Suppress: All" (or OOF); alone it
    proves nothing, since Outlook sets it on meeting mail and more."""
    values = _values(headers, "X-Auto-Response-Suppress")
    tokens = {token.strip().lower() for value in values for token in value.split(",")}
    return bool(tokens & {"all", "oof"})


def _is_spam(headers: HeaderLookup, subject: str) -> bool:
    if any(v.lower() == "yes" for v in _values(headers, "X-Spam-Flag")):
        return True
    if any(v.lower().startswith("yes") for v in _values(headers, "X-Spam-Status")):
        return True
    if any(_first_token(v) == "yes" for v in _values(headers, "X-Spam")):
        return True
    return _SPAM_SUBJECT.search(subject[:120]) is not None


def _is_no_archive(headers: HeaderLookup) -> bool:
    if any(_first_token(v) == "yes" for v in _values(headers, "X-No-Archive")):
        return True
    return any(_first_token(v) == "no" for v in _values(headers, "X-Archive"))


_BOUNCE_NAME = re.compile(r"\s*\"?mail delivery (?:system|subsystem)\b", re.I)


def _is_bounce_sender(addr: str) -> bool:
    """mailer-daemon@/postmaster@, or "Mail Delivery System" kept by a list's From rewrite."""
    return _local_part(addr) in _BOUNCE_LOCALS or _BOUNCE_NAME.match(addr) is not None


def _from_addresses(headers: HeaderLookup) -> list[str]:
    return _values(headers, "From")


def _is_bot_sender(headers: HeaderLookup, subject: str) -> bool:
    """Robot senders (noreply@, git@, jenkins@) or a bot's subject tag ("[GitHub] ...")."""
    froms = _from_addresses(headers)
    if any(is_robot_address(a) or _local_part(a) in _BOT_LOCALS for a in froms):
        return True
    tags = split_subject_tags(subject)[0]
    return bool(tags) and tags[0].lower() in _BOT_TAGS


def is_list_stamped(headers: HeaderLookup) -> bool:
    """A list server distributed this message (List-Id, List-Post or ezmlm's Mailing-List)."""
    return any(_values(headers, name) for name in _LIST_HEADERS)


def classify_headers(
    headers: HeaderLookup, subject: str, content_type: str, list_stamped: bool | None = None
) -> frozenset[Flag]:
    """Flags for one message. `list_stamped` defaults to "has List-Id/List-Post/Mailing-List"."""
    stamped = is_list_stamped(headers) if list_stamped is None else list_stamped
    flags: set[Flag] = set()
    froms = _from_addresses(headers)
    if _is_dsn(content_type) or _is_bounce_subject(subject):
        flags |= {Flag.BOUNCE, Flag.AUTOMATED}
    if any(_is_bounce_sender(a) for a in froms):
        flags |= {Flag.BOUNCE, Flag.AUTOMATED}
    auto_reply = _is_auto_reply(headers)
    oof_subject = _is_oof_subject(subject)
    # MTAs mark delay warnings "Auto-Submitted: auto-replied" too: a bounce is not a vacation.
    if oof_subject or (auto_reply and Flag.BOUNCE not in flags):
        flags.add(Flag.OUT_OF_OFFICE)
    if auto_reply or (oof_subject and _suppresses_oof(headers)):
        flags.add(Flag.AUTOMATED)
    if _automated_by_headers(headers, stamped) or _is_bot_sender(headers, subject):
        flags.add(Flag.AUTOMATED)
    if _is_spam(headers, subject):
        flags.add(Flag.SPAM)
    if _is_no_archive(headers):
        flags.add(Flag.NO_ARCHIVE)
    return frozenset(flags)
