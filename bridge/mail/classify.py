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
    {"git", "gitbox", "github", "gitlab", "jenkins", "hudson", "buildbot", "jira", "bot", "robot",
     "syzbot", "ci_notify", "ci-notify", "autobuilder"}
)
# Code hosting, review, tracker and CI robots stamp their own headers: X-GitHub-Reason,
# X-GitLab-Project, X-Gerrit-MessageType, X-JIRA-FingerPrint, X-Bugzilla-Reason, X-Jenkins-Job...
_BOT_HEADER_PREFIXES = ("x-github-", "x-gitlab-", "x-gerrit-", "x-jira-", "x-bugzilla-", "x-jenkins-")
# CI and test robots post under a person-like address but say what they are in the name:
# "kernel test robot", "kernelci.org bot", "CI Bot".
_ROBOT_NAME = re.compile(r"\b(?:ro)?bot\b", re.I)


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

# Words only machines put in front of a subject ("Automatic reply: ..."): evidence on their own.
_AUTO_REPLY_PHRASES = (
    r"automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|out of (?:the )?office autoreply"
    r"|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|respuesta autom[áa]tica"
    r"|risposta automatica|resposta autom[áa]tica|automatisch antwoord|autosvar"
    r"|自動応答|自動返信|自动回复|자동 응답"
)
# Words a person also writes ("Vacation: how do other solo librarians get cover?"): an
# out-of-office only with machine evidence besides (headers, or a known auto-reply body).
_AWAY_PHRASES = (
    r"out of (?:the )?office|abwesenheit|absence|absent|fuera de la oficina"
    r"|fora do escrit[óo]rio|afwezig|fr[åa]nvaro|vacation|holiday|不在"
)


def _subject_pattern(phrases: str) -> re.Pattern[str]:
    # Autoresponders write "Phrase: original subject"; a bare phrase as the whole subject too.
    return re.compile(
        rf"(?:{phrases})(?:\s+(?:autoreply|auto-reply|reply|notice|message|notification))?"
        r"\s*(?:[:：].*|\(.*\)|)",
        re.I | re.S,
    )


_AUTO_REPLY_SUBJECT, _AWAY_SUBJECT = _subject_pattern(_AUTO_REPLY_PHRASES), _subject_pattern(_AWAY_PHRASES)
_AUTO_REPLY_TAG = re.compile(rf"(?:{_AUTO_REPLY_PHRASES})", re.I)
_AWAY_TAG = re.compile(rf"(?:{_AWAY_PHRASES})", re.I)
# What vacation responders say, in the first lines of a short body.
_AUTO_REPLY_BODY = re.compile(
    r"\bI(?:'m| am) (?:currently |now )?(?:out of (?:the )?office|away from (?:the|my) (?:office|desk)"
    r"|on (?:annual |parental |sick |maternity )?leave|on (?:vacation|holiday))\b"
    r"|\bI will be (?:out of (?:the )?office|away|on (?:leave|vacation|holiday))"
    r" (?:from|until|till|through)\b"
    r"|\b(?:limited|no) access to (?:my )?e-?mail\b"
    r"|\bthis is an automat(?:ic|ed) (?:reply|response|message)\b"
    r"|\bich bin (?:bis|vom|ab)\b.{0,60}\b(?:nicht im b[üu]ro|abwesend|im urlaub)\b"
    r"|\bje suis absente?\b|\bestoy fuera de la oficina\b|\bsono fuori (?:sede|ufficio)\b"
    r"|\bestou fora do escrit[óo]rio\b|\bik ben (?:afwezig|met vakantie)\b",
    re.I,
)
AUTO_REPLY_BODY_CHARS = 1500  # vacation notices are short; a long body is a person writing
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


def _subject_says(subject: str, tag: re.Pattern[str], pattern: re.Pattern[str]) -> bool:
    tags, rest = split_subject_tags(subject)
    if any(tag.fullmatch(t) for t in tags):
        return True
    return pattern.fullmatch(rest) is not None


def _is_auto_reply_subject(subject: str) -> bool:
    """ "Automatic reply: ...", "[Auto-Reply] ...": only a machine writes that."""
    return _subject_says(subject, _AUTO_REPLY_TAG, _AUTO_REPLY_SUBJECT)


def is_away_subject(subject: str) -> bool:
    """ "Out of Office: ...", "Vacation: ...": an auto-reply's shape, but people write it too."""
    return _subject_says(subject, _AWAY_TAG, _AWAY_SUBJECT)


def is_auto_reply_body(body: str) -> bool:
    """A short body that says what vacation responders say ("I am out of the office until...")."""
    return len(body) <= AUTO_REPLY_BODY_CHARS and _AUTO_REPLY_BODY.search(body) is not None


def classify_body(subject: str, body: str) -> frozenset[Flag]:
    """Flags only the body can give: an "Out of Office: ..." subject with an auto-reply's body."""
    if is_away_subject(subject) and is_auto_reply_body(body):
        return frozenset({Flag.OUT_OF_OFFICE, Flag.AUTOMATED})
    return frozenset()


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
    if _has_bot_header(headers):
        return True
    return not list_stamped and any(v.strip("<> ") == "" for v in _values(headers, "Return-Path"))


def _has_bot_header(headers: HeaderLookup) -> bool:
    names = headers.keys() if callable(getattr(headers, "keys", None)) else []  # type: ignore[attr-defined]
    return any(str(name).lower().startswith(_BOT_HEADER_PREFIXES) for name in names)


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
    if any(_ROBOT_NAME.search(parse_address(a)[0]) for a in froms):
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
    # A machine's prefix is evidence alone; "Out of Office:"/"Vacation:" only with Outlook's
    # suppress header (or, in classify_body, an auto-reply's body): people write those words too.
    oof_subject = _is_auto_reply_subject(subject) or (
        is_away_subject(subject) and _suppresses_oof(headers))
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
    return frozenset(flags | _evidence_flags(headers, stamped))


# --- evidence flags (weighed in bridge.decide.evidence, never decisive alone) ----------------

_AUTH_FAIL = re.compile(r"\b(?:spf|dkim|dmarc)\s*=\s*fail\b", re.I)
_HOSTS = re.compile(r"(?:https?://|mailto:[^@>\s]*@)([\w.-]+)", re.I)
_LIST_HOST_HEADERS = ("List-Id", "List-Post", "List-Help", "List-Archive", "List-Subscribe")


def _auth_failed(headers: HeaderLookup) -> bool:
    """SPF, DKIM or DMARC "fail" where the receiving server recorded it (softfail is not)."""
    results = (*_values(headers, "Authentication-Results"),
               *_values(headers, "ARC-Authentication-Results"))
    return any(_AUTH_FAIL.search(value) for value in results)


def _base_domain(host: str) -> str:
    return ".".join(host.lower().rstrip(".").split(".")[-2:])


def _list_domains(headers: HeaderLookup) -> set[str]:
    found: set[str] = set()
    for name in _LIST_HOST_HEADERS:
        for value in _values(headers, name):
            found |= {_base_domain(h) for h in _HOSTS.findall(value)}
            if name == "List-Id" and "<" in value:  # <list.example.org>
                found.add(_base_domain(value.rsplit("<", 1)[1].split(">")[0]))
    return found


def _own_unsubscribe(headers: HeaderLookup, list_stamped: bool) -> bool:
    """A List-Unsubscribe the list did not add: the sender's newsletter or mailing software."""
    values = _values(headers, "List-Unsubscribe")
    if not values:
        return False
    if not list_stamped or len(values) > 1:
        return True
    hosts = {_base_domain(h) for h in _HOSTS.findall(values[0])}
    return bool(hosts - _list_domains(headers))


def _undisclosed(headers: HeaderLookup) -> bool:
    return any("undisclosed" in v.lower() for v in _values(headers, "To"))


def _evidence_flags(headers: HeaderLookup, list_stamped: bool) -> set[Flag]:
    found = {Flag.AUTH_FAILED} if _auth_failed(headers) else set()
    if _own_unsubscribe(headers, list_stamped):
        found.add(Flag.BULK_SENDER)
    if _undisclosed(headers):
        found.add(Flag.UNDISCLOSED)
    return found
