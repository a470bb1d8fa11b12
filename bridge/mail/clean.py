"""Pure text cleaning for list mail: subject threading keys, HTML to text, the author's words."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

from bridge.mail import quotes, signatures

# --- subjects ---------------------------------------------------------------------------------

# Longest alternatives first so that "antwort" is not read as "antw" + "ort".
_REPLY_WORDS = (
    *("antwort", "antw", "réf", "rif", "odp", "ynt", "отв", "回复", "答复"),
    *("aw", "sv", "vs", "re", "r"),
)
_FORWARD_WORDS = ("doorst", "fwd", "enc", "fw", "wg", "tr", "rv", "转发", "転送")
# The one reply/forward prefix rule ("Re:", "AW[2]:", "Fwd:", "回复："): threading keys here,
# the post's subject (compose.post) and the relay's "Re:" (compose.relay_email) all use it.
PREFIX_PATTERN = (
    r"(?P<word>" + "|".join(_REPLY_WORDS + _FORWARD_WORDS) + r")"
    r"\s*(?:\[\d{1,4}\]|\^\d{1,4}|\(\d{1,4}\))?\s*[:：]"
)
_PREFIX_RE = re.compile(PREFIX_PATTERN + r"\s*", re.IGNORECASE)
_LEADING_TAG_RE = re.compile(r"\[([^\[\]]{0,80})\]\s*")


def split_subject_tags(subject: str) -> tuple[tuple[str, ...], str]:
    """Split leading "[tag]" groups (list names, [SPAM], [Auto-Reply]) from the rest, case kept."""
    tags: list[str] = []
    rest = subject.strip()
    pos = 0
    while match := _LEADING_TAG_RE.match(rest, pos):  # positions, not slices: linear in length
        tags.append(match.group(1).strip())
        pos = match.end()
    return tuple(tags), rest[pos:]


def _trailing_tag_start(text: str, start: int, end: int) -> int | None:
    """Where a "[tag]" ending text[start:end] begins (with the white space before it), or None."""
    if end <= start or text[end - 1] != "]":
        return None
    opening = text.rfind("[", max(start, end - 82), end - 1)
    if opening < 0 or "]" in text[opening + 1 : end - 1]:
        return None
    while opening > start and text[opening - 1].isspace():
        opening -= 1
    return opening


def starts_as_reply(subject: str) -> bool:
    """After any leading [tags], the subject begins with a reply prefix (not a forward)."""
    _tags, rest = split_subject_tags(subject)
    match = _PREFIX_RE.match(rest)
    return match is not None and match.group("word").casefold() in _REPLY_WORDS


def _strip_prefixes(subject: str) -> tuple[str, bool]:
    """Remove list tags and reply/forward prefixes from the front, tags from the end.

    Walks positions instead of slicing, so a subject of thousands of "Re: " stays linear.
    """
    is_reply = False
    text = subject.strip()
    start, end = 0, len(text)
    while True:
        while start < end and text[start].isspace():
            start += 1
        if match := _LEADING_TAG_RE.match(text, start, end):
            start = match.end()
        elif match := _PREFIX_RE.match(text, start, end):
            is_reply = is_reply or match.group("word").casefold() in _REPLY_WORDS
            start = match.end()
        elif (tag := _trailing_tag_start(text, start, end)) is not None:
            end = tag
        else:
            return text[start:end].rstrip(), is_reply


def normalise_subject(subject: str) -> tuple[str, bool]:
    """Return (threading key, is_reply): tags and Re:/AW:/Fwd: prefixes gone, folded, casefolded."""
    text, is_reply = _strip_prefixes(" ".join(subject.split()))
    # Casefolding can expose a prefix the case-insensitive regex missed; strip once more.
    text, again = _strip_prefixes(text.casefold())
    return " ".join(text.split()), is_reply or again


# --- HTML -------------------------------------------------------------------------------------

_PARAGRAPH_TAGS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "dl", "pre"})
_QUIET_TAGS = frozenset({"head", "style", "script"})
_SPACE_RE = re.compile(r"[ \t\n\r\f\v]+")  # HTML white space, not U+00A0 (turned into " " later)


class _TextCollector(HTMLParser):
    """HTML to plain text with the standard library: block elements break lines, paragraphs get
    a blank line, list items a "- " or "1. " mark, blockquotes "> " (so quote removal sees them),
    table cells a space; images, style, script and the head are dropped, link text kept."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.pending = 0  # line breaks owed before the next text: 1 = new line, 2 = paragraph
        self.at_start = True  # at the start of a line: leading white space is dropped
        self.quiet = self.pre = self.quote = 0
        self.lists: list[str] = []  # "ul" or "ol" per open list
        self.counts: list[int] = []  # items so far, per open list

    # -- output --
    def _break(self, count: int) -> None:
        self.pending = max(self.pending, count)

    def _newline(self) -> None:
        self.out.append("\n" + "> " * self.quote)
        self.at_start = True

    def _emit(self, text: str) -> None:
        if self.pending and self.out:
            self.out.append("\n" * self.pending + "> " * self.quote)
            self.at_start = True
        elif not self.out and self.quote:
            self.out.append("> " * self.quote)
        self.pending = 0
        self.out.append(text)
        self.at_start = False

    # -- parser events --
    def handle_data(self, data: str) -> None:
        if self.quiet:
            return
        if self.pre:
            for i, line in enumerate(data.split("\n")):
                if i:
                    self._newline()
                if line:
                    self._emit(line)
            return
        text = _SPACE_RE.sub(" ", data)
        if self.at_start or self.pending:
            text = text.lstrip(" ")
        if text:
            self._emit(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, start=True)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag, start=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, start=True)
        if tag not in ("br", "hr", "img"):
            self._tag(tag, start=False)

    def _tag(self, tag: str, start: bool) -> None:
        if tag in _QUIET_TAGS:
            self.quiet = self.quiet + 1 if start else max(0, self.quiet - 1)
        elif tag == "body":
            self.quiet = 0  # pages that never close <head>
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
            if tag == "pre":
                self.pre = self.pre + 1 if start else max(0, self.pre - 1)
        elif tag == "br" and start:
            self._newline()
        elif tag == "blockquote":
            self._break(2)
            self.quote = self.quote + 1 if start else max(0, self.quote - 1)
        else:
            self._list_or_table_tag(tag, start)

    def _list_or_table_tag(self, tag: str, start: bool) -> None:
        if tag in ("ul", "ol"):
            if not self.lists:
                self._break(2)
            if start:
                self.lists.append(tag)
                self.counts.append(0)
            elif self.lists:
                self.lists.pop()
                self.counts.pop()
        elif tag == "li":
            self._break(1)
            if start:
                indent = "  " * max(0, len(self.lists) - 1)
                if self.lists and self.lists[-1] == "ol":
                    self.counts[-1] += 1
                    self._emit(f"{indent}{self.counts[-1]}. ")
                else:
                    self._emit(indent + "- ")
                self.at_start = True
        elif tag in ("dt", "dd", "tr") and not start:
            self._break(1)
        elif tag == "dd" and start:
            self._emit("    ")
        elif tag in ("td", "th") and start:
            self._emit(" ")


_TAG_RE = re.compile(r"<[^<>]*>")


def _strip_tags(markup: str) -> str:
    """Last-resort conversion when the parser fails: drop tags, unescape entities."""
    return html.unescape(_TAG_RE.sub(" ", markup))


def html_to_text(html_text: str) -> str:
    """Readable plain text from an HTML body: link text kept, images/style/script dropped."""
    try:
        collector = _TextCollector()
        collector.feed(html_text)
        collector.close()
        text = "".join(collector.out)
    except Exception:  # hostile markup: fall back rather than lose the mail
        text = _strip_tags(html_text)
    text = text.replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    return _tidy_lines(text.split("\n"))


# --- bodies -----------------------------------------------------------------------------------

Step = Callable[[list[str]], list[str]]

# Order matters: cut footers and unquoted originals first, then quotes, then signatures, so a
# signature sitting above a quote in a top-posted reply is seen as being at the end.
CLEAN_STEPS: tuple[Step, ...] = (
    signatures.drop_pgp_armor,
    quotes.cut_trailing_blocks,
    quotes.drop_quotes,
    signatures.drop_signature,
    signatures.drop_mobile_signature,
    signatures.drop_sign_off,
)


def normalise_newlines(text: str) -> str:
    """CRLF and bare CR become LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _tidy_lines(lines: list[str]) -> str:
    """Trim line ends, collapse runs of blank lines to one, drop blank lines at both ends."""
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def clean_body(text: str) -> str:
    """The author's own words from a plain-text body: no quotes, signature or list footer."""
    lines = [line.rstrip() for line in normalise_newlines(text).split("\n")]
    for step in CLEAN_STEPS:
        lines = step(lines)
    return _tidy_lines(lines)
