"""Summarise a question for a post: the asker's own question sentence(s), whole and scrubbed,
after the subject; never code, logs, command lines, config, quoted text or headings."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.compose.scrub import GAP, MAX_TEXT, remove_names, scrub, strip_invisible, without_gaps
from bridge.mail.clean import PREFIX_PATTERN
from bridge.model import Mail

_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]*\]|\((?:solved|no-tweet|tweet|share)\)|" + PREFIX_PATTERN + r"|[-–—:]+)\s*",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^\s*(?:(?:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening|day)|hallo|"
    r"liebe|sehr geehrte|bonjour|salut|hola|ciao|buongiorno|witam|dzień dobry|olá|bom dia|"
    r"goedemorgen|beste|hej|moin|servus)\b[^\n.!?,:;]{0,40}[,!:.;]?|all[,:]|folks[,:])\s*",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(?:(?:many )?(?:thanks?|thank you|thx|tia)(?: (?:in advance|a lot|so much|"
    r"for (?:your|any) (?:help|time|advice|ideas)))?|(?:best|kind|warm)(?: regards| wishes)?|"
    r"regards|cheers|sincerely|best,|yours|cordialement|saludos|grüße|gruß|mfg|"
    r"met vriendelijke groet|pozdrawiam|atenciosamente|un saludo|--)\W*$",
    re.IGNORECASE,
)
_GENERIC_QUESTION = re.compile(
    r"^(?:so |and |but )?(?:any (?:ideas|help|suggestions|thoughts|advice|pointers|hints|tips)|"
    r"(?:can|could) (?:any|some)one help(?: me)?|does any(?:one|body) (?:have any ideas|know)|"
    r"what am i (?:doing wrong|missing)|thoughts|ideas|any(?:one|body)|help)\b.{0,30}$",
    re.IGNORECASE,
)
_LEAD_WORD = re.compile(
    r"^(?:(?:so|but|and|however|also|now|then|basically|anyway)\b[,\s]*|"
    r"my (?:question|problem) is(?: that)?[:\s]+)+",
    re.IGNORECASE,
)
# A full stop with no space after it still ends a sentence when a capitalised word follows.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])|(?<=[。！？])\s*")
# Lines that are not the asker's prose: quotes, headings, code, logs, shell, config, paths.
_NOT_PROSE = re.compile(
    r"^\s*(?:>|\||#{1,6}\s|[=\-~*_]{3,}\s*$|[$%#]\s|C:\\|[A-Za-z]:\\|/\S+/\S+|"
    r"\[?\d{4}-\d{2}-\d{2}[ T]\d|\d+:\d+:\d+|at [\w.$]+\(|Traceback|File \"|"
    r"[\w.\-]+\s*[=:]\s*\S+\s*$|[{}\[\]<>;]|(?:sudo|cd|ls|make|cmake|git|pip|npm|apt(?:-get)?|"
    r"gcc|g\+\+|python3?|export|echo|cat)\s)"
)
_CODE_MARKS = re.compile(r"[{};=<>\\|`]|::|->|\(\)|\w\.\w+\(|\s--?\w")
_LINKS = re.compile(r"<[^<>\s]{1,500}>|[a-z]{1,20}://\S+|[^\s@]{1,64}@\S+", re.IGNORECASE)
_HOW_TO_HEADING = re.compile(r"^(?:how to|how-to|tutorial|guide|faq)\b[^?]{0,40}\?$", re.IGNORECASE)
_VAGUE = re.compile(
    r"^(?:(?:a |one )?(?:quick |short |simple |urgent |small )?(?:question|query|request|help|"
    r"problem|issue|advice|info(?:rmation)?|hello|hi|help needed|need help|please help|urgent|"
    r"(?:no subject)|test|idea|ideas|suggestions?)[\s!?.:]*)+$",
    re.IGNORECASE,
)
_CUT = "\x00"  # where a line that is not prose was taken out (controls are stripped before)
_MARKUP = " *_•·-–—~"  # bullets and bold/italic marks around a sentence
MAX_QUESTIONS = 2  # the first question, and the one right after it
_UNSPACED_SCRIPT = re.compile(r"[\u0e00-\u0eff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True)
class Summary:
    """Candidate summaries, best first (each whole), and why a moderator must look, if so."""

    candidates: tuple[str, ...]
    needs_review: str | None = None


def clean_subject(subject: str) -> str:
    """The subject without list tags, "Re:"/"Fwd:" prefixes and leading dashes."""
    text = " ".join(strip_invisible(subject[:MAX_TEXT]).split())
    for _ in range(20):  # each pass removes one prefix; real subjects carry a handful at most
        shorter = _SUBJECT_PREFIX.sub("", text, count=1)
        if shorter == text:
            break
        text = shorter
    return text.strip()


def is_prose(line: str) -> bool:
    """A line of the author's own words: not a quote, heading, code, log, command or config."""
    if _NOT_PROSE.match(line):
        return False
    marks = len(_CODE_MARKS.findall(_LINKS.sub(" ", line)))  # a <link> or URL is not code
    return marks < 2 and not (marks and len(line.split()) < 4)


def sentences(body: str) -> list[str]:
    """The body's prose sentences: up to the sign-off, without greeting, code, quotes, headings.

    A line that is not prose cuts its paragraph; when the words after the cut go on in lower case
    ("[1]. On the other hand... Is there an agreement" dropped, "in the community if...?" left),
    they are the end of a sentence whose start was cut away, and are dropped, not kept as one."""
    lines: list[str] = []
    for line in strip_invisible(body[:MAX_TEXT]).splitlines():
        if _SIGN_OFF.match(line):
            break
        lines.append(line if is_prose(line) else _CUT)
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    text = _GREETING.sub("", text.strip(), count=1)
    found: list[str] = []
    for paragraph in text.split("\n\n"):
        for i, piece in enumerate(paragraph.split(_CUT)):
            parts = [s.strip() for s in _SENTENCE_END.split(piece) if s.strip()]
            if i > 0 and parts and parts[0][0].islower():
                parts = parts[1:]  # the rest of a sentence cut above
            found += parts
    return found


def _asks(sentence: str) -> bool:
    # three words, or an unspaced script (CJK) sentence of some length
    wordy = len(sentence.split()) >= 3 or (" " not in sentence and len(sentence) >= 6
                                           and bool(_UNSPACED_SCRIPT.search(sentence)))
    return (sentence.rstrip().endswith(("?", "？", "؟")) and wordy
            and not _GENERIC_QUESTION.match(sentence) and not _HOW_TO_HEADING.match(sentence))


def _whole(sentence: str, asker: str, others: Iterable[str]) -> str | None:
    """The sentence scrubbed, or None when something was cut out of it (no fragments)."""
    cleaned = remove_names(scrub(sentence), others, asker)
    return None if GAP in cleaned or not cleaned.strip() else cleaned


def _same(a: str, b: str) -> bool:
    """Does one repeat the other word for word (ignoring case and end punctuation)?"""
    x, y = (" ".join(re.findall(r"\w+", s.casefold())) for s in (a, b))
    return bool(x and y) and (x in y or y in x)


def summarise(root: Mail, other_names: Iterable[str] = ()) -> Summary:
    """The subject and the asker's question sentence(s), each scrubbed whole (see Summary)."""
    # The asker's own name is scrubbed in every form anyway; keeping the list whole lets its
    # lookup table be built once for all drafts instead of once per asker.
    others = tuple(other_names)
    subject = without_gaps(remove_names(scrub(clean_subject(root.subject)), others,
                                        root.author.name))
    questions: list[str] = []
    first_at = -1
    for i, found in enumerate(sentences(root.body or "")):
        sentence = found.strip(_MARKUP)
        if questions and i != first_at + 1:
            break  # a second question only right after the first: it belongs with it
        if not _asks(sentence):
            continue
        whole = _whole(_LEAD_WORD.sub("", sentence).strip(), root.author.name, others)
        if whole and not any(_same(whole, q) for q in questions):
            questions.append(whole)
            first_at = i if len(questions) == 1 else first_at
        if len(questions) == MAX_QUESTIONS:
            break
    if subject and questions and _same(subject, questions[0]):
        longer = max(subject, questions[0], key=len)
        subject, questions[0] = "", longer
    if not questions:
        return _subject_alone(subject, root, others)
    candidates = [_join(subject, questions[: n]) for n in range(len(questions), 0, -1)]
    candidates += [" ".join(questions[: n]) for n in range(len(questions), 0, -1)]
    return Summary(tuple(dict.fromkeys(c for c in candidates if c)))


def _subject_alone(subject: str, root: Mail, others: tuple[str, ...]) -> Summary:
    """No readable question: the subject alone; a vague or missing one needs a moderator."""
    if subject and not _VAGUE.match(subject) and len(subject.split()) >= 2:
        return Summary((subject,))
    review = f"no readable question sentence and a vague subject ({subject or 'none'!r})"
    if subject:
        return Summary((subject,), review)
    firsts = (_whole(s, root.author.name, others) for s in sentences(root.body or ""))
    first = next((f for f in firsts if f), None)
    return Summary((first,) if first else (), review)


def _join(subject: str, questions: list[str]) -> str:
    """ "Subject: question" ("Subject? Question" when the subject asks: no "?:" joint)."""
    text = " ".join(questions)
    if not subject:
        return text
    joint = " " if subject.endswith(("?", "？", "!", ".", "؟")) else ": "
    return subject + joint + text
