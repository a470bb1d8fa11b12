"""What a root's text shows, read by the evidence rules: the asker's own words (not machine text,
not headings), question sentences, request and problem phrases, commercial marks, the language.

Pure functions over strings; every table is a tuple of regular expressions matched
case-insensitively. CJK patterns carry no \\b: those scripts have no spaces between words.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# fmt: off
# A line a machine wrote: a log, a stack trace, code, config, a command line, a diff, a hex dump.
_MACHINE_LINE = re.compile(
    r"^\s*(?:"
    r"\[?\s*\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\[\s*\d+\.\d+\]|\[\w{3} \w{3} +\d+ \d\d:\d\d"  # log stamps
    r"|\d\d:\d\d:\d\d[.,]?\d*\s|[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d"
    r"|at [\w$.<>]+\(.*\)\s*$|File \".*\", line \d+|#\d+\s+0x[0-9a-f]+|Traceback \(most recent"
    r"|(?:[$#%>]|PS [A-Z]:\\.*?>|[A-Z]:\\\S*>)\s*\S"  # prompts, C:\...>
    r"|[A-Z]:\\\S+|(?:sudo|make|gcc|cc|c\+\+|cmake|pip|npm|git|docker|kubectl|systemctl)\s+-"
    r"|(?:diff --git|index [0-9a-f]+\.\.|@@ |[+-]{3} [ab/]|Signed-off-by:)"
    r"|(?:#include|#define|from \S+ import|def \w+\(|class \w+[:(]|if ?\(|for ?\(|while ?\("
    r"|\}|\{$|.*[;{]\s*$)"  # code: keywords, braces, a line ending in ; or {
    r"|<[!/]?[\w:-]+(?:\s[^>]*)?>"  # a line that opens with an XML/HTML tag
    r"|[<>*](?:\s|$)"  # curl -v and similar traces: "< HTTP/1.1 400", "* Closing connection"
    r"|[\w.-]+\s*[=:]\s*[\"'\w./-]*\s*$"  # key = value, key: value
    r"|(?:0x)?[0-9a-f]{8,}\b"  # addresses, hashes, hex dumps
    r")",
    re.IGNORECASE,
)
_SYMBOLS = re.compile(r"[{}\[\];<>=|\\/_$#*&^~`@%]")
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+|<\S+@\S+>|\b\S+@\S+\.\w+", re.I)
# A question mark ends a sentence before a space, a closing quote or bracket, the end of the line,
# or a backslash that ends the line (web mail forms that send "?\" at each line break).
_QUESTION = re.compile(r"[^\s?؟？¿][^?؟？\n]*?[?؟？]+(?=[\s\"'”’»)\]]|\\\s*$|$)|¿[^?\n]{3,}\?")
_REFERENCE_ITEM = re.compile(r"^\s*\[\d{1,3}\]\s")
_HEADING_QUESTION = re.compile(r"^\s*(?:how to|what is|why)\b[^.!\n]{0,30}\?\s*$", re.I)
# fmt: on


def is_machine_line(line: str) -> bool:
    """A log, trace, code, config or command line (or mostly symbols), not a person's sentence."""
    stripped = _URL.sub("", line).strip()
    if not stripped:
        return False
    if _MACHINE_LINE.match(stripped):
        return True
    return len(_SYMBOLS.findall(stripped)) > max(3, len(stripped) // 6)


def own_words(body: str) -> str:
    """The body's prose lines only: machine lines and reference-list items ("[2] How to...", the
    titles of pages the sender cites) dropped, URLs and addresses blanked."""
    lines = [line for line in body.splitlines()
             if not is_machine_line(line) and not _REFERENCE_ITEM.match(line)]
    return _URL.sub(" ", "\n".join(lines))


def machine_share(body: str) -> float:
    """The share of non-blank lines that are machine text (0.0 for an empty body)."""
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        return 0.0
    return sum(1 for line in lines if is_machine_line(line)) / len(lines)


def question_sentences(text: str) -> list[str]:
    """Sentences in `text` that end in ?, ؟ or ？ (or open with ¿), headings like "How to use?"
    on a line of their own left out."""
    found: list[str] = []
    for line in text.splitlines():
        if "?" not in line and "؟" not in line and "？" not in line:
            continue  # no question mark: nothing can match (cheap; most lines have none)
        if _HEADING_QUESTION.match(line) and len(line.split()) <= 4:
            continue
        found.extend(m.group(0).strip() for m in _QUESTION.finditer(line))
    return [q for q in found if sum(c.isalpha() for c in q) >= 3]


def compile_any(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!)", re.IGNORECASE)


def first_match(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return " ".join(match.group(0).split())[:40].lower() if match else None


# --- shouting and emoji -----------------------------------------------------------------------


def shouting(text: str) -> bool:
    """Mostly capital letters (at least 20 letters to judge)."""
    letters = [c for c in text if c.isalpha() and c.isascii()]
    return len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) >= 0.5


def emoji_count(text: str) -> int:
    return sum(1 for c in text if unicodedata.category(c) == "So" and ord(c) >= 0x2190)


# --- language ---------------------------------------------------------------------------------

# Frequent short words: enough to tell the Latin-script languages of a few lines apart.
_STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and is are to of that it for with have this you not we but what how does any "
              "would there has was can will my our your i",
        "es": "el los las que y en una es por para con del al como pero más está tiene hay "
              "puede su sus este esta usted nuestro",
        "pt": "o os que e em um uma não para com por do da dos das mais você seu sua está são "
              "nossa nosso",
        "fr": "le les des et est une que qui pour dans pas ne sur avec vous nous je il au aux "
              "cette sont",
        "de": "der die das und ist nicht ich sie zu ein eine mit auf für den dem von wir bitte "
              "auch sind haben",
        "it": "il lo gli di che è per non con del della sono ho una questo anche",
        "nl": "de het een en van is niet ik je dat die op te voor met zijn wij uw",
        "pl": "się nie że jest czy jak dla oraz są państwo państwa jeśli które",
    }.items()
}
_SCRIPTS = (
    ("ja", ((0x3040, 0x30FF),)),  # kana: Japanese (checked before Han)
    ("zh", ((0x4E00, 0x9FFF), (0x3400, 0x4DBF))),
    ("ko", ((0xAC00, 0xD7AF), (0x1100, 0x11FF))),
    ("ru", ((0x0400, 0x04FF),)),
    ("ar", ((0x0600, 0x06FF),)),
    ("he", ((0x0590, 0x05FF),)),
    ("el", ((0x0370, 0x03FF),)),
    ("th", ((0x0E00, 0x0E7F),)),
    ("hi", ((0x0900, 0x097F),)),
)
_WORD = re.compile(r"[^\W\d_]+")
_FIRST_SCRIPT_CHAR = chr(min(lo for _, ranges in _SCRIPTS for lo, _ in ranges))


def language(text: str) -> str | None:
    """A rough language tag ("en", "es", "ja"...) for prose, None when it cannot tell."""
    sample = text[:3000]
    letters = "".join(filter(str.isalpha, sample))
    if len(letters) < 40:
        return None
    if max(letters) >= _FIRST_SCRIPT_CHAR:  # Latin text skips the script scan
        # each distinct letter is placed in a script once, with its count
        counts = Counter(letters)
        for tag, ranges in _SCRIPTS:
            count = sum(n for c, n in counts.items() if any(lo <= ord(c) <= hi for lo, hi in ranges))
            if count / len(letters) >= (0.05 if tag == "ja" else 0.3):
                return tag
    words = Counter(w.lower() for w in _WORD.findall(sample))
    scores = {lang: sum(words[w] for w in stop) for lang, stop in _STOPWORDS.items()}
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    (best, top), (_, second) = ranked[0], ranked[1]
    return best if top >= 4 and top >= 1.5 * second else None


def words(text: str) -> frozenset[str]:
    """Lower-case words of 3+ letters: what "the same pitch" compares."""
    return frozenset(w.lower() for w in _WORD.findall(text) if len(w) >= 3)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets (0.0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
