"""Write the post for a due question: a scrubbed summary, hashtags and the link, within 280."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

import jinja2
from twitter_text import extract_urls, parse_tweet

from bridge.mail.clean import PREFIX_PATTERN
from bridge.model import Mail

TEMPLATE_NAME = "post.txt.j2"
ELLIPSIS = "…"


@dataclass(frozen=True)
class ComposeSettings:
    """What goes around the summary, and where the admin's templates live (None = packaged)."""

    hashtags: tuple[str, ...] = ("#sololibrarians",)
    template_dir: str | None = None
    max_weighted_length: int = 280


@dataclass(frozen=True)
class Draft:
    """A post ready to publish; `weighted_length` is twitter-text v3's count of `text`."""

    root_id: str
    text: str
    weighted_length: int
    link: str


# --- scrubbing: nothing that identifies or reaches a person leaves the list ---

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+\s*[@＠]\s*[\w-]+(?:\.[\w-]+)+")
_OBFUSCATED_EMAIL = re.compile(
    r"[\w.+-]+\s*(?:[(\[{]at[)\]}]|\sat\s)\s*[\w-]+(?:\s*(?:[(\[{]dot[)\]}]|\sdot\s)\s*[\w-]+)+",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+|\b(?:mailto|tel|sms):\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])[@＠]\w+")
# Digit groups with phone separators: "+1-512-413-5696", "(0)30 123456", "06 12 34 56 78".
_PHONE = re.compile(r"(?<![\w.])(?:\+|00)?\(?\d[\d\s().\-/]{5,}\d(?![\w])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PHONE_MIN_DIGITS = 7
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


def scrub(text: str) -> str:
    """Remove email addresses, URLs (any scheme, www. or bare domains), @handles, phone numbers."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", text))
    text = _EMAIL.sub(" ", text)
    text = _OBFUSCATED_EMAIL.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _PHONE.sub(_drop_phone, text)
    for url in sorted(set(extract_urls(text)), key=len, reverse=True):
        text = text.replace(url, " ")  # what X itself would turn into a link: "example.org"
    return _tidy(text)


def _tidy(text: str) -> str:
    """Collapse whitespace, and the space a removal leaves before punctuation ("on :")."""
    return re.sub(r"\s+([:,.;!?])", r"\1", " ".join(text.split()))


def _drop_phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    if digits < _PHONE_MIN_DIGITS or _ISO_DATE.fullmatch(found.strip()):
        return found
    return " "


def remove_names(text: str, name: str) -> str:
    """Remove every token of `name` (first, last, middle names) from `text`, ignoring case."""
    tokens = {t for t in re.findall(r"[^\W\d_]+", name) if len(t) >= 2}
    for token in sorted(tokens, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(token)}(?!\w)", " ", text, flags=re.IGNORECASE)
    return _tidy(text)


# --- summarising: the subject and the sentence that asks ---

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
    r"my (?:question|problem) is[:\s]+)+",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")  # CJK needs no space after


def clean_subject(subject: str) -> str:
    """The subject without list tags, "Re:"/"Fwd:" prefixes and leading dashes."""
    text = " ".join(subject.split())
    for _ in range(20):  # each pass removes one prefix; real subjects carry a handful at most
        shorter = _SUBJECT_PREFIX.sub("", text, count=1)
        if shorter == text:
            break
        text = shorter
    return text.strip()


def question_sentence(body: str) -> str | None:
    """The first specific question in the author's own words (no greeting, no sign-off)."""
    for sentence in _sentences(body):
        # three words, or an unspaced script (CJK) sentence of some length
        wordy = len(sentence.split()) >= 3 or (" " not in sentence and len(sentence) >= 6)
        asks = sentence.rstrip().endswith(("?", "？")) and wordy
        if asks and not _GENERIC_QUESTION.match(sentence):
            return _LEAD_WORD.sub("", sentence).strip()
    return None


def _sentences(body: str) -> list[str]:
    lines: list[str] = []
    for line in body.splitlines():
        if _SIGN_OFF.match(line):
            break
        lines.append(line)
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    text = _GREETING.sub("", text.strip(), count=1)
    return [s.strip() for p in text.split("\n\n") for s in _SENTENCE_END.split(p) if s.strip()]


def summarise(root: Mail) -> str:
    """What is asked: the clean subject and the key question, scrubbed and without the asker."""
    subject = clean_subject(root.subject)
    question = question_sentence(root.body) if root.body else None
    if question and question.casefold().rstrip("?？ ") in subject.casefold():
        question = None
    if not subject and root.body and not question:
        sentences = _sentences(root.body)
        question = sentences[0] if sentences else None
    summary = ": ".join(part for part in (subject, question) if part)
    for _ in range(3):  # scrub and name removal can each reveal work for the other
        cleaned = remove_names(scrub(summary), root.author.name)
        if cleaned == summary:
            break
        summary = cleaned
    return summary.strip(" :-–—")


# --- the post: template, measured, truncated at a word boundary ---


def make_template_env(settings: ComposeSettings) -> jinja2.Environment:
    """Jinja for plain text (no autoescape): the admin's directory, or the packaged templates."""
    loader: jinja2.BaseLoader
    if settings.template_dir:
        loader = jinja2.FileSystemLoader(settings.template_dir)
    else:
        loader = jinja2.FunctionLoader(_packaged_template)
    return jinja2.Environment(
        loader=loader,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def _packaged_template(name: str) -> str | None:
    resource = files("bridge.templates").joinpath(name)
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def weighted_length(text: str) -> int:
    """twitter-text v3 weighted length: URLs 23, CJK and emoji 2, most Latin 1, after NFC."""
    return int(parse_tweet(text).weightedLength)


def compose_post(
    root: Mail, link: str, settings: ComposeSettings, template_env: jinja2.Environment
) -> Draft:
    """Render the post for `root`; the summary is shortened until the whole post fits."""
    template = template_env.get_template(TEMPLATE_NAME)

    def render(summary: str, lead_in: bool) -> str:
        text = template.render(
            summary=summary, hashtags=list(settings.hashtags), link=link, lead_in=lead_in
        )
        return " ".join(text.split())

    summary = summarise(root)
    text = _fit(summary, render, settings.max_weighted_length)
    _check_post(text, link)
    return Draft(root.message_id, text, weighted_length(text), link)


def _fit(summary: str, render: Callable[[str, bool], str], limit: int) -> str:
    # Prefer the whole summary with the lead-in, then the whole summary without it; only then
    # cut the summary (without the lead-in, which would take room from the question).
    for lead_in in (True, False):
        text = render(summary, lead_in)
        if weighted_length(text) <= limit:
            return text
    if weighted_length(render("", False)) > limit:
        raise ValueError(f"the post does not fit in {limit} even with an empty summary")
    cut = _longest_prefix(summary, lambda s: weighted_length(render(s, False)) <= limit)
    return render(cut, False)


def _longest_prefix(summary: str, fits: Callable[[str], bool]) -> str:
    """The longest "prefix…" that fits: at a word boundary, or mid-word for unspaced scripts."""
    words = [m.start() for m in re.finditer(r"\s+", summary)]
    by_word = _search(words, lambda i: fits(_shorten(summary, i)))
    chars = [i for i in range(1, len(summary)) if _can_cut(summary, i)]
    by_char = _search(chars, lambda i: fits(_shorten(summary, i)))
    # a word boundary reads better, unless it throws away much of what would fit
    if by_word is not None and (by_char is None or by_word >= 0.6 * by_char):
        return _shorten(summary, by_word)
    return _shorten(summary, by_char) if by_char is not None else ""


def _search(cuts: list[int], fits: Callable[[int], bool]) -> int | None:
    """The largest cut that fits (binary search: a longer prefix never weighs less)."""
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(cuts[mid]):
            best, lo = cuts[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _shorten(summary: str, end: int) -> str:
    kept = summary[:end].rstrip(" \t\n,;:-–—(")
    return kept + ELLIPSIS if kept else ""


def _can_cut(text: str, index: int) -> bool:
    # never split a combining mark, joiner or variation selector from its base character
    nxt = text[index]
    return not (
        unicodedata.combining(nxt)
        or nxt in "\u200d\ufe0e\ufe0f"
        or "\U0001f3fb" <= nxt <= "\U0001f3ff"
    )


def _check_post(text: str, link: str) -> None:
    """Last line of defence: the only URL in a post is our whole link, and nobody is @mentioned."""
    urls = extract_urls(text)
    others = [u for u in urls if u != link]
    if others:
        raise ValueError(f"post would carry a URL other than the thread link: {others[0]!r}")
    if link and link not in urls:
        raise ValueError("the thread link would not be read as one whole URL")
    if _HANDLE.search(text.replace(link, " ")):
        raise ValueError("post would @mention someone")
