"""Decide which threads are unanswered requests for help that are due for posting, and why.

Shaped like structlog's processors: small named rules, compiled once per settings, run in order;
the first rule with an opinion decides, and every decision carries a short human reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from bridge.decide import evidence, rules
from bridge.decide.history import NO_CONTEXT, Context
from bridge.decide.signals import compile_any
from bridge.durations import add_business_time, format_duration
from bridge.model import Author, Flag, Mail, ThreadView


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


Outcome = Literal["post", "hold", "skip"]


@dataclass(frozen=True)
class Decision:
    """The verdict on one thread: due now, waiting until `due_at`, or skipped for `reason`.

    `outcome` is what happens when it is due: "post" (clear case), "hold" (a moderator decides
    first) or "skip"; `evidence` names the rules that fired with their weights ("QUESTION=+3.0").
    A waiting decision already carries the outcome it will have when it falls due.
    """

    root_id: str
    due: bool
    reason: str
    due_at: datetime | None = None
    outcome: Outcome = "post"
    evidence: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.due and self.due_at is None:  # neither due nor waiting: nothing to do
            object.__setattr__(self, "outcome", "skip")

    @property
    def waiting(self) -> bool:
        return not self.due and self.due_at is not None


@dataclass(frozen=True)
class _Compiled:
    vetoes: tuple[rules.RequestRule, ...]
    problem: re.Pattern[str]
    closing_body: tuple[re.Pattern[str], ...]
    content_free: re.Pattern[str]


@lru_cache(maxsize=16)
def _compiled(settings: MatcherSettings) -> _Compiled:
    vetoes: tuple[rules.RequestRule, ...] = (
        rules.flag_rule,
        rules.orphan_reply_rule,
        rules.subject_rule(settings.not_request_subject),
        rules.body_rule(settings.not_request_body),
    )
    free = "|".join(f"(?:{p})" for p in settings.content_free) or r"(?!)"
    for pattern in settings.request_evidence:
        rules.compile_pattern(pattern, "request_evidence")
    return _Compiled(
        vetoes=vetoes,
        problem=compile_any(settings.request_evidence),
        closing_body=tuple(rules.compile_pattern(p, "closing_body") for p in settings.closing_body),
        content_free=rules.compile_pattern(free, "content_free"),
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


def judge(
    root: Mail, settings: MatcherSettings, context: Context = NO_CONTEXT
) -> tuple[evidence.Judgement, str]:
    """Weigh the evidence that `root` is a person asking the list for help: the judgement
    (post / hold / skip, with the rules that fired) and a short reason."""
    compiled = _compiled(settings)
    for veto in compiled.vetoes:
        found = veto(root)
        if found is not None:
            return evidence.weigh([found[0]]), found[1]
    if context.repost_of:
        return evidence.weigh(["REPOST"]), f"repost of {context.repost_of}: same sender, same text"
    judgement = evidence.weigh(evidence.collect(root, context, compiled.problem))
    return judgement, _reason(root, judgement)


def _reason(root: Mail, judgement: evidence.Judgement) -> str:
    if judgement.outcome != "skip":
        return f"request: score {judgement.score:g}"
    if not any(evidence.weight_of(n) > 0 for n in judgement.fired):
        if root.body is None:
            return "not parsed: the subject shows no request"
        return "no question or request for help found"
    return f"not a clear request: score {judgement.score:g} < {evidence.HOLD_AT:g}"


def classify_request(
    root: Mail, settings: MatcherSettings, context: Context = NO_CONTEXT
) -> tuple[bool, str]:
    """Is this root (perhaps) a request for help? The verdict and the reason for it."""
    judgement, reason = judge(root, settings, context)
    return judgement.outcome != "skip", reason


def same_person(a: Author, b: Author) -> bool:
    """Same author: equal addresses, or equal names (list rewrites and second addresses)."""
    if a.address and a.address == b.address:
        return True
    return bool(a.name.strip()) and a.name.strip().casefold() == b.name.strip().casefold()


def drop_signoff(body: str, author: Author | None) -> str:
    """Remove trailing paragraphs that are the author's sign-off block (name, title, phone).

    Only short paragraphs (at most 5 lines of at most 70 characters, no question) whose first line
    names the author are dropped: "Margaret Okafor\nHealth Sciences Librarian\n555-0112".
    """
    if author is None:
        return body
    tokens = {t.casefold() for t in re.split(r"[\s,.'’-]+", author.name) if len(t) >= 3}
    local = author.address.split("@")[0].casefold()
    paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    while len(paragraphs) > 1:
        lines = paragraphs[-1].strip().splitlines()
        first = lines[0].casefold()
        signed = any(t in first for t in tokens) or (bool(local) and local in first)
        short = len(lines) <= 5 and all(len(x) <= 70 for x in lines) and "?" not in paragraphs[-1]
        if not (signed and short):
            break
        paragraphs.pop()
    return "\n\n".join(paragraphs)


def is_content_free(body: str, settings: MatcherSettings, author: Author | None = None) -> bool:
    """True when every sentence of `body` is a "+1", "me too", "following"..., or it is ~empty.

    The author's sign-off block (name, title, phone) is not counted as content.
    """
    body = drop_signoff(body, author)
    if len("".join(body.split())) < settings.min_answer_chars:
        return True
    pattern = _compiled(settings).content_free
    sentences = [s.strip(" \t-–—…:;)(*") for s in re.split(r"[.!?,;\n]+|\s[-–—]+\s", body.casefold())]
    return all(pattern.fullmatch(s) for s in sentences if s)


def is_qualifying_answer(msg: Mail, asker: Author, settings: MatcherSettings) -> bool:
    """A reply by someone else, written by a human, saying something; unparsed replies count."""
    if same_person(msg.author, asker):
        return False
    if any(flag in msg.flags for flag, _ in rules.AUTOMATIC_FLAGS):
        return False
    # No body (headers only) or nothing left after cleaning (often an interleaved reply the
    # cleaner could not separate from the quote): a human replied, we cannot tell what, and
    # not posting is the safe side.
    if msg.body is None or not msg.body.strip():
        return True
    return not is_content_free(msg.body, settings, msg.author)


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
    thread: ThreadView, now: datetime, settings: MatcherSettings, posted: AbstractSet[str],
    context: Context = NO_CONTEXT,
    judging: Callable[[], tuple[evidence.Judgement, str]] | None = None,
) -> Decision:
    """Decide one thread; the checks run cheapest and most final first.

    `judging`: the root's `judge` with this context, when the caller keeps it (a replay asks
    about the same root at several moments); called only when the decision gets that far."""
    root = thread.root

    def skip(reason: str, found: tuple[str, ...] = ()) -> Decision:
        return Decision(root.message_id, False, reason, evidence=found)

    if root.message_id in posted:
        return skip("already posted")
    if Flag.OURS in root.flags:
        return skip("our own relay")
    if Flag.DATE_MISSING in root.flags:
        # a fallback date (arrival time) could make an old question look new after a resync
        return skip("no usable Date header: age unknown")
    age = now - root.date
    if age > settings.max_age:
        return skip(f"too old: {format_duration(age)} > {format_duration(settings.max_age)}")
    opt_out = opt_out_reason(thread, settings)
    if opt_out:
        return skip(opt_out)
    judgement, why = judging() if judging else judge(root, settings, context)
    found = judgement.evidence
    if judgement.outcome == "skip":
        return skip(why, found)
    for reason in (closing_reason(thread, settings), _answer_reason(thread, settings)):
        if reason:
            return skip(reason, found)
    due_at = due_time(root, settings)
    if due_at - root.date > settings.max_age:
        return skip("too old by the time it would be due", found)
    outcome: Outcome = "post" if judgement.outcome == "post" else "hold"
    if due_at <= now:
        return Decision(root.message_id, True, f"unanswered for {format_duration(age)}", due_at,
                        outcome, found)
    return Decision(root.message_id, False, f"waiting: due in {format_duration(due_at - now)}",
                    due_at, outcome, found)
