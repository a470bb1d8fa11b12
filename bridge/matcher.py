"""Decide which threads are unanswered requests for help that are due for posting, and why.

Shaped like structlog's processors: small named rules, compiled once per settings, run in order;
the first rule with an opinion decides, and every decision carries a short human reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from bridge import rules
from bridge.durations import add_business_time, format_duration
from bridge.model import Author, Flag, Mail, ThreadView

# Mail a machine wrote never asks for help and never answers a question.
_AUTOMATIC = {
    Flag.SPAM: "spam: flagged by the list's filter",
    Flag.BOUNCE: "automated: delivery status notification",
    Flag.OUT_OF_OFFICE: "automated: out-of-office reply",
    Flag.AUTOMATED: "automated mail",
}
_BODY_SCAN_CHARS = 4000  # vetoes look at the opening of a body; long pastes add only noise


@dataclass(frozen=True)
class MatcherSettings:
    """What counts as a due question; every table is overridable from config."""

    unanswered_after: timedelta = timedelta(hours=48)
    max_age: timedelta = timedelta(days=7)
    business_days: bool = False
    opt_out_tags: tuple[str, ...] = rules.OPT_OUT_TAGS
    opt_in_only: bool = False
    opt_in_tags: tuple[str, ...] = rules.OPT_IN_TAGS
    opt_out_senders: frozenset[str] = frozenset()  # addresses, or "@domain" for a whole domain
    not_request_subject: rules.PatternTable = rules.NOT_REQUEST_SUBJECT
    not_request_body: rules.PatternTable = rules.NOT_REQUEST_BODY
    request_evidence: tuple[str, ...] = rules.REQUEST_EVIDENCE
    closing_tags: tuple[str, ...] = rules.CLOSING_TAGS
    closing_body: tuple[str, ...] = rules.CLOSING_BODY
    content_free: tuple[str, ...] = rules.CONTENT_FREE
    min_answer_chars: int = 2  # a reply with fewer non-space characters says nothing


@dataclass(frozen=True)
class Decision:
    """The verdict on one thread: due now, waiting until `due_at`, or skipped for `reason`."""

    root_id: str
    due: bool
    reason: str
    due_at: datetime | None = None

    @property
    def waiting(self) -> bool:
        return not self.due and self.due_at is not None


@dataclass(frozen=True)
class MatchResult:
    """All decisions of one pass, split by outcome; `next_due_at` tells the daemon when to wake."""

    due: list[Decision] = field(default_factory=list)
    skipped: list[Decision] = field(default_factory=list)
    waiting: list[Decision] = field(default_factory=list)
    next_due_at: datetime | None = None


Verdict = tuple[bool, str]
RequestRule = Callable[[Mail], Verdict | None]


@dataclass(frozen=True)
class _Compiled:
    request_rules: tuple[RequestRule, ...]
    closing_body: tuple[re.Pattern[str], ...]
    content_free: re.Pattern[str]


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid pattern {pattern!r} in {where}: {exc}") from exc


def _compile_table(table: rules.PatternTable, where: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((cat, _compile(p, f"{where}.{cat}")) for cat, patterns in table for p in patterns)


def _search_table(
    table: tuple[tuple[str, re.Pattern[str]], ...], text: str
) -> tuple[str, str] | None:
    for category, pattern in table:
        match = pattern.search(text)
        if match:
            return category, " ".join(match.group(0).split())[:40].lower()
    return None


def _flag_rule(mail: Mail) -> Verdict | None:
    return next(((False, why) for flag, why in _AUTOMATIC.items() if flag in mail.flags), None)


def _subject_rule(table: rules.PatternTable) -> RequestRule:
    compiled = _compile_table(table, "not_request_subject")

    def not_request_subject(mail: Mail) -> Verdict | None:
        hit = _search_table(compiled, mail.subject)
        return (False, f"{hit[0]}: subject matches '{hit[1]}'") if hit else None

    return not_request_subject


def _body_rule(table: rules.PatternTable) -> RequestRule:
    compiled = _compile_table(table, "not_request_body")

    def not_request_body(mail: Mail) -> Verdict | None:
        hit = _search_table(compiled, (mail.body or "")[:_BODY_SCAN_CHARS])
        return (False, f"{hit[0]}: body matches '{hit[1]}'") if hit else None

    return not_request_body


def _evidence_rule(patterns: tuple[str, ...]) -> RequestRule:
    compiled = _compile_table((("request", patterns),), "request_evidence")

    def request_evidence(mail: Mail) -> Verdict:
        if _search_table(compiled, mail.subject):
            return True, "request: the subject asks"
        if mail.body is None:
            return False, "not parsed: the subject shows no request"
        hit = _search_table(compiled, mail.body[:_BODY_SCAN_CHARS])
        if hit:
            return True, f"request: body matches '{hit[1]}'"
        return False, "no question or request for help found"

    return request_evidence


@lru_cache(maxsize=16)
def _compiled(settings: MatcherSettings) -> _Compiled:
    request_rules: tuple[RequestRule, ...] = (
        _flag_rule,
        _subject_rule(settings.not_request_subject),
        _body_rule(settings.not_request_body),
        _evidence_rule(settings.request_evidence),
    )
    free = "|".join(f"(?:{p})" for p in settings.content_free) or r"(?!)"
    return _Compiled(
        request_rules=request_rules,
        closing_body=tuple(_compile(p, "closing_body") for p in settings.closing_body),
        content_free=_compile(free, "content_free"),
    )


def check_settings(settings: MatcherSettings) -> list[str]:
    """Return every problem with the settings (bad patterns, impossible durations); [] when fine."""
    problems: list[str] = []
    try:
        _compiled(settings)
    except ValueError as exc:
        problems.append(str(exc))
    if settings.unanswered_after <= timedelta(0):
        problems.append("unanswered_after must be positive")
    if settings.unanswered_after >= settings.max_age:
        problems.append("unanswered_after must be shorter than max_age, or nothing is ever due")
    return problems


def classify_request(root: Mail, settings: MatcherSettings) -> tuple[bool, str]:
    """Is this root a request for help? Returns the verdict and the reason for it."""
    for rule in _compiled(settings).request_rules:
        verdict = rule(root)
        if verdict is not None:
            return verdict
    raise AssertionError("unreachable: the evidence rule always decides")


def same_person(a: Author, b: Author) -> bool:
    """Same author: equal addresses, or equal names (list rewrites and second addresses)."""
    if a.address and a.address == b.address:
        return True
    return bool(a.name.strip()) and a.name.strip().casefold() == b.name.strip().casefold()


def is_content_free(body: str, settings: MatcherSettings) -> bool:
    """True when every sentence of `body` is a "+1", "me too", "following"... or it is near-empty."""
    if len("".join(body.split())) < settings.min_answer_chars:
        return True
    pattern = _compiled(settings).content_free
    sentences = [s.strip(" \t-–—…:;)(*") for s in re.split(r"[.!?,;\n]+", body.casefold())]
    return all(pattern.fullmatch(s) for s in sentences if s)


def is_qualifying_answer(msg: Mail, asker: Author, settings: MatcherSettings) -> bool:
    """A reply by someone else, written by a human, saying something; unparsed replies count."""
    if same_person(msg.author, asker) or any(flag in msg.flags for flag in _AUTOMATIC):
        return False
    # body None = headers only: a human replied, we cannot tell what; not posting is the safe side
    return msg.body is None or not is_content_free(msg.body, settings)


def closing_reason(thread: ThreadView, settings: MatcherSettings) -> str | None:
    """Why the asker closed the thread ("[SOLVED]", "never mind, found it"), or None."""
    asker = thread.root.author
    own = [thread.root, *(m for m in thread.replies if same_person(m.author, asker))]
    for mail in own:
        subject = mail.subject.casefold()
        tag = next((t for t in settings.closing_tags if t.casefold() in subject), None)
        if tag:
            return f"closed by the asker: {tag}"
    for mail in own:
        if mail.message_id == thread.root.message_id or not mail.body:
            continue  # the question itself may say "I found it strange that..."
        for pattern in _compiled(settings).closing_body:
            match = pattern.search(mail.body)
            if match:
                return f"closed by the asker: '{match.group(0).lower()}'"
    return None


def opt_out_reason(thread: ThreadView, settings: MatcherSettings) -> str | None:
    """Why the asker, the admin or the list's policy keeps this thread off the network, or None."""
    root, asker = thread.root, thread.root.author
    own = [root, *(m for m in thread.replies if same_person(m.author, asker))]
    for mail in own:
        subject = mail.subject.casefold()
        tag = next((t for t in settings.opt_out_tags if t.casefold() in subject), None)
        if tag:
            return f"opted out: {tag}"
        if Flag.NO_ARCHIVE in mail.flags:
            return "opted out: X-No-Archive"
    address = asker.address.casefold()
    domain = "@" + address.rpartition("@")[2] if "@" in address else None
    senders = {s.casefold() for s in settings.opt_out_senders}
    if address and (address in senders or domain in senders):
        return "opted out: sender on the opt-out list"
    if settings.opt_in_only:
        subject = root.subject.casefold()
        if not any(t.casefold() in subject for t in settings.opt_in_tags):
            return "opted out: the list is opt-in only and the subject has no opt-in tag"
    return None


def due_time(root: Mail, settings: MatcherSettings) -> datetime:
    """When the root becomes due if nobody answers: its date plus `unanswered_after`."""
    if settings.business_days:
        return add_business_time(root.date, settings.unanswered_after)
    return root.date + settings.unanswered_after


def _answer_reason(thread: ThreadView, settings: MatcherSettings) -> str | None:
    if any(Flag.OURS in m.flags for m in thread.replies):
        return "answered via X"
    asker = thread.root.author
    if any(is_qualifying_answer(m, asker, settings) for m in thread.replies):
        return "answered by a member"
    return None


def decide(
    thread: ThreadView, now: datetime, settings: MatcherSettings, posted: AbstractSet[str]
) -> Decision:
    """Decide one thread; the checks run cheapest and most final first."""
    root = thread.root

    def skip(reason: str) -> Decision:
        return Decision(root.message_id, False, reason)

    if root.message_id in posted:
        return skip("already posted")
    if Flag.OURS in root.flags:
        return skip("our own relay")
    age = now - root.date
    if age > settings.max_age:
        return skip(f"too old: {format_duration(age)} > {format_duration(settings.max_age)}")
    for reason in (
        opt_out_reason(thread, settings),
        _request_veto(root, settings),
        closing_reason(thread, settings),
        _answer_reason(thread, settings),
    ):
        if reason:
            return skip(reason)
    due_at = due_time(root, settings)
    if due_at - root.date > settings.max_age:
        return skip("too old by the time it would be due")
    if due_at <= now:
        return Decision(root.message_id, True, f"unanswered for {format_duration(age)}", due_at)
    return Decision(root.message_id, False, f"waiting: due in {format_duration(due_at - now)}", due_at)


def _request_veto(root: Mail, settings: MatcherSettings) -> str | None:
    is_request, reason = classify_request(root, settings)
    return None if is_request else reason


def find_due(
    threads: Iterable[ThreadView],
    now: datetime,
    settings: MatcherSettings,
    posted: AbstractSet[str],
) -> MatchResult:
    """Decide every thread; due ones oldest first, and the earliest time a waiting one falls due."""
    result = MatchResult()
    for thread in threads:
        decision = decide(thread, now, settings, posted)
        bucket = result.due if decision.due else result.waiting if decision.waiting else result.skipped
        bucket.append(decision)
    result.due.sort(key=lambda d: (d.due_at or now, d.root_id))
    result.waiting.sort(key=lambda d: (d.due_at or now, d.root_id))
    next_due = result.waiting[0].due_at if result.waiting else None
    return MatchResult(result.due, result.skipped, result.waiting, next_due)
