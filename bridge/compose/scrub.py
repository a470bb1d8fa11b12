"""Scrub a text before it is posted: invisible and bidi controls, contact details, links, handles,
hashtags and cashtags, and people's names (matched through NFKC and accent folding, never output
folded). Removals of what reaches a person leave GAP, so the summariser can drop the sentence."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

GAP = "\x00"  # where something was taken out: the sentence around it is no longer whole
MAX_TEXT = 4000  # characters of any one text that reach scrubbing, summarising and counting

# --- invisible characters: strip all format (Cf) controls except joiners inside words/emoji ---

_JOINERS = "\u200c\u200d"
_INVISIBLE_OTHER = "\u034f\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5"  # CGJ, Hangul fillers...
_SPACE_LIKE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\x85]")  # not \n


def _joinable(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LM" or cat == "So" or ch in "\ufe0f\ufe0e" or "\U0001f3fb" <= ch <= "\U0001f3ff"


def strip_invisible(text: str) -> str:
    """NFC; controls but line feeds become spaces; every Cf character (soft hyphen, bidi marks and isolates,
    U+180E, zero-width space, BOM, tags...) goes, except ZWNJ/ZWJ between letters or emoji."""
    text = _SPACE_LIKE.sub(" ", unicodedata.normalize("NFC", text))
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch in _JOINERS:
            before, after = (text[i - 1] if i else ""), (text[i + 1] if i + 1 < len(text) else "")
            if before and after and _joinable(before) and _joinable(after):
                out.append(ch)
        elif unicodedata.category(ch) != "Cf" and ch not in _INVISIBLE_OTHER:
            out.append(ch)
    return "".join(out)


# --- contact details, links, handles ---

_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SEP = rf"[\s().{_DASHES}/\u00a0\u202f\u2007]"
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}\s*[@＠]\s*[\w-]+(?:\.[\w-]+)+")
_OBFUSCATED_EMAIL = re.compile(
    r"[\w.+-]{1,64}\s*(?:[(\[{<]\s*at\s*[)\]}>]|\s(?:at|AT)\s)\s*[\w-]+"
    r"(?:\s*(?:[(\[{<]\s*dot\s*[)\]}>]|\s(?:dot|DOT)\s|\.)\s*[\w-]+)+",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+|\b(?:mailto|tel|sms):\S+", re.IGNORECASE)
HANDLE = re.compile(r"(?<![\w@])[@＠]\w+")
# Digit groups with phone separators: "+1-512-413-5696", "(0)30 123456", "06–12–34–56–78".
_PHONE = re.compile(rf"(?<![\w.])(?:\+|00)?\(?\d(?:\d|{_SEP}){{5,30}}\d(?!\w)")
# Vanity numbers: "1-800-FLOWERS", "(800) GOT-JUNK", "+1 888 MY-LOANS".
_VANITY = re.compile(
    rf"(?<!\w)(?:\+?1{_SEP}*)?(?:\(\d{{3}}\)|8(?:00|33|44|55|66|77|88)){_SEP}*"
    rf"(?=[A-Z0-9{_DASHES}.\s]*[A-Z])[A-Z0-9]{{2,}}(?:[{_DASHES}.\s]?[A-Z0-9]+){{0,3}}(?!\w)"
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PHONE_MIN_DIGITS = 7
_HASHTAG = re.compile(r"(?<![\w&])[#＃][\w\u200c\u200d]{0,100}?[^\W\d_][\w\u200c\u200d]*")
_CASHTAG = re.compile(r"(?<![\w$])[$＄][A-Za-z]{1,6}(?:[._][A-Za-z]{1,2})?(?!\w)")


# Every link twitter-text finds has a domain: a dot between a non-space and a letter (the TLD's
# first). Text without one holds no link, and twitter-text (~0.3 s to load) is not needed for it
# (pinned against extract_urls in tests/test_scrub.py).
MAY_HOLD_LINK = re.compile(r"\S\.[^\W\d_]")


def scrub(text: str) -> str:
    """Remove email addresses, URLs, @handles, phone numbers (GAP each), hashtags and cashtags."""
    text = strip_invisible(text[:MAX_TEXT])
    text = _HASHTAG.sub(" ", text)
    text = _CASHTAG.sub(" ", text)
    for pattern in (_EMAIL, _OBFUSCATED_EMAIL, _URL, HANDLE, _VANITY):
        text = pattern.sub(f" {GAP} ", text)
    text = tidy(_PHONE.sub(_drop_phone, text))  # tidied first: "a .example.org" is a link then
    if MAY_HOLD_LINK.search(text):
        from twitter_text import extract_urls  # imported when first needed: ~0.3 s to load

        for url in sorted(set(extract_urls(text)), key=len, reverse=True):
            text = text.replace(url, f" {GAP} ")  # what X would turn into a link: "example.org"
    return tidy(text)


def _drop_phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    if digits < _PHONE_MIN_DIGITS or _ISO_DATE.fullmatch(found.strip()):
        return found
    return f" {GAP} "


def tidy(text: str) -> str:
    """Collapse whitespace, the space a removal leaves before punctuation, and empty brackets."""
    text = " ".join(text.split())
    text = re.sub(r"[<(\[{]\s*((?:\x00\s*)+)[>)\]}]", r"\1", text)  # "< GAP >" or "( GAP )"
    text = re.sub(r"(\x00)\s*[>)\]}]|[<(\[{]\s*(\x00)", r"\1\2", text)  # half a bracket pair
    return re.sub(r"\s+([:,.;!?])", r"\1", text)


def without_gaps(text: str) -> str:
    """The text with its GAP marks gone (for a subject, which cannot be dropped)."""
    text = re.sub(r"[<>]", " ", text) if GAP in text else text
    return tidy(text.replace(GAP, " ")).strip(" :-–—,;")


# --- names: matched folded (NFKC, no accents, casefolded), removed from the original ---


def fold(text: str) -> tuple[str, list[int]]:
    """The matching form of `text` and, for each of its characters, the index it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        decomposed = unicodedata.normalize("NFKD", ch)
        for part in "".join(c for c in decomposed if not unicodedata.combining(c)).casefold():
            out.append(part)
            where.append(i)
    return "".join(out), where


def _name_tokens(name: str) -> list[str]:
    return [t for t in re.findall(r"[^\W\d_]+", fold(name)[0]) if t]


def name_patterns(name: str, *, tokens_alone: bool) -> tuple[list[str], list[str]]:
    """Regex sources (on folded text) for a person's name: (full forms: full, joined, underscored,
    initials; single tokens, only when `tokens_alone`: the asker's first name in a sign-off)."""
    tokens = _name_tokens(name)
    sep = r"[\s._\-]*"
    forms: list[str] = []
    if len(tokens) >= 2:
        first, last = tokens[0], tokens[-1]
        forms += [sep.join(map(re.escape, tokens)), re.escape(last) + r",?\s*" + re.escape(first),
                  re.escape(first[0]) + r"\.?\s*" + re.escape(last),
                  re.escape(first) + r"\s+" + re.escape(last[0]) + r"\.",
                  re.escape(first[0]) + r"\.\s?" + re.escape(last[0]) + r"\."]
    singles = [re.escape(t) for t in tokens if len(t) >= 2] if tokens_alone or len(tokens) == 1 else []
    return sorted(set(forms), key=len, reverse=True), sorted(set(singles), key=len, reverse=True)


def remove_names(text: str, names: Iterable[str], asker: str = "") -> str:
    """Take people's names out of `text` (GAP each): every form of the asker's name, and the
    full-name forms of `names` (other people the list has seen), in any width, accent or case.
    A single name token counts only when written with a capital ("Can", not the verb "can")."""
    full, singles = name_patterns(asker, tokens_alone=True) if asker else ([], [])
    others = _other_name_keys(tuple(names))
    if not (full or singles or others):
        return text
    folded, where = fold(text)
    spans: list[tuple[int, int]] = []
    for sources, capital in ((full, False), (singles, True)):
        if not sources:
            continue
        pattern = re.compile(r"(?<![^\W_])(?:" + "|".join(sources) + r")(?![^\W_])")
        for m in pattern.finditer(folded):
            start, end = where[m.start()], where[m.end() - 1] + 1
            if m.end() > m.start() and not (capital and text[start].islower()):
                spans.append((start, end))
    spans += [(where[a], where[b - 1] + 1) for a, b in _find_keys(folded, others)]
    for start, end in _merge(spans)[::-1]:
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1  # the marks folding dropped belong to the name
        text = f"{text[:start]} {GAP} {text[end:]}"
    return tidy(text)


@functools.lru_cache(maxsize=4)
def _other_name_keys(names: tuple[str, ...]) -> dict[str, int]:
    """Folded word sequences that name one of `names` -> how many words they span. Thousands
    of senders are looked up per word, not tried as one huge regex."""
    keys: dict[str, int] = {}
    for name in names:
        tokens = _name_tokens(re.sub(r"\s+via\s+.*$", "", name))  # "Jane Smith via Solo-L"
        if len(tokens) < 2:
            continue  # a single word ("Support", "Library") is too likely an ordinary word
        first, last = tokens[0], tokens[-1]
        keys[" ".join(tokens)] = len(tokens)
        keys["".join(tokens)] = 1
        keys[f"{last} {first}"] = 2
        keys[f"{first[0]} {last}"] = 2
    return keys


def _find_keys(folded: str, keys: dict[str, int]) -> list[tuple[int, int]]:
    if not keys:
        return []
    words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[^\W_]+", folded)]
    found = []
    for i in range(len(words)):
        for n in range(1, 5):
            key = " ".join(w for _, _, w in words[i:i + n])
            if i + n <= len(words) and keys.get(key) == n:
                found.append((words[i][0], words[i + n - 1][1]))
    return found


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
