"""Pure text cleaning for list mail: subject threading keys, HTML to text, the author's words."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import html2text

from bridge.mail import quotes, signatures

# --- subjects ---------------------------------------------------------------------------------

# Longest alternatives first so that "antwort" is not read as "antw" + "ort".
_REPLY_WORDS = (
    *("antwort", "antw", "réf", "rif", "odp", "ynt", "отв", "回复", "答复"),
    *("aw", "sv", "vs", "re", "r"),
)
_FORWARD_WORDS = ("doorst", "fwd", "enc", "fw", "wg", "tr", "rv", "转发", "転送")
_PREFIX_RE = re.compile(
    r"(?P<word>" + "|".join(_REPLY_WORDS + _FORWARD_WORDS) + r")"
    r"\s*(?:\[\d{1,4}\]|\^\d{1,4}|\(\d{1,4}\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_LEADING_TAG_RE = re.compile(r"\[([^\[\]]{0,80})\]\s*")
_TRAILING_TAG_RE = re.compile(r"\s*\[[^\[\]]{0,80}\]$")


def split_subject_tags(subject: str) -> tuple[tuple[str, ...], str]:
    """Split leading "[tag]" groups (list names, [SPAM], [Auto-Reply]) from the rest, case kept."""
    tags: list[str] = []
    rest = subject.strip()
    while match := _LEADING_TAG_RE.match(rest):
        tags.append(match.group(1).strip())
        rest = rest[match.end() :]
    return tuple(tags), rest


def _strip_prefixes(subject: str) -> tuple[str, bool]:
    """Remove list tags and reply/forward prefixes from the front, tags from the end."""
    is_reply = False
    text = subject.strip()
    while True:
        if match := _LEADING_TAG_RE.match(text):
            text = text[match.end() :].lstrip()
        elif match := _PREFIX_RE.match(text):
            is_reply = is_reply or match.group("word").casefold() in _REPLY_WORDS
            text = text[match.end() :].lstrip()
        elif match := _TRAILING_TAG_RE.search(text):
            text = text[: match.start()].rstrip()
        else:
            return text, is_reply


def normalise_subject(subject: str) -> tuple[str, bool]:
    """Return (threading key, is_reply): tags and Re:/AW:/Fwd: prefixes gone, folded, casefolded."""
    text, is_reply = _strip_prefixes(" ".join(subject.split()))
    # Casefolding can expose a prefix the case-insensitive regex missed; strip once more.
    text, again = _strip_prefixes(text.casefold())
    return " ".join(text.split()), is_reply or again


# --- HTML -------------------------------------------------------------------------------------

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


class _PlainText(html2text.HTML2Text):
    """html2text minus markdown noise: no escaping, no "#" or "* * *"; table cells spaced."""

    def handle_data(self, data: str, entity_char: bool = False) -> None:
        super().handle_data(data, True)  # True = "already an entity": skips escape_md_section

    def handle_tag(self, tag: str, attrs: dict[str, str | None], start: bool) -> None:
        if tag in _HEADINGS or tag == "hr":
            self.current_tag = tag
            self.p()
        elif tag in ("td", "th") and start:
            self.current_tag = tag
            self.o(" ")
        else:
            super().handle_tag(tag, attrs, start)


def _new_parser() -> html2text.HTML2Text:
    parser = _PlainText()
    parser.ignore_images = True
    parser.ignore_links = True  # keeps the link text, drops the URL syntax
    parser.ignore_emphasis = True
    parser.ignore_tables = True
    parser.body_width = 0  # no wrapping
    parser.unicode_snob = True
    parser.ul_item_mark = "-"
    return parser


_TAG_RE = re.compile(r"<[^<>]*>")


def _strip_tags(markup: str) -> str:
    """Last-resort conversion when html2text fails: drop tags, unescape entities."""
    return html.unescape(_TAG_RE.sub(" ", markup))


def html_to_text(html_text: str) -> str:
    """Readable plain text from an HTML body: link text kept, images/style/script dropped."""
    try:
        text = _new_parser().handle(html_text)
    except Exception:  # html2text on hostile markup: fall back rather than lose the mail
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
