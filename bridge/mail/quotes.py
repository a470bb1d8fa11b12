"""Line rules that find quoted replies, forwarded-style originals and list footers in a body.

Every rule looks at one line (at most a few hundred characters, plus a short look-ahead), so a
whole body is cleaned in linear time whatever it contains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PGP_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"  # a signature block: nothing below is prose
_MAX_HEADER = 400  # longer lines are never attributions, header lines or footers
_LOOKAHEAD = 4
_BLANK_RUN = 25

# --- attributions: "On <date>, X wrote:" and its translations --------------------------------

_LEADS = r"(?:on|am|le|el|op|il|em|den|på|w\s+dniu|dne|в)"
_VERBS = (
    r"(?:wrote|writes|schrieb|a\s+écrit|escribió|escribio|schreef|ha\s+scritto|scrisse"
    r"|escreveu|skrev|napisał|napisal|napsal|kirjoitti|написал|написала|写道)"
)
_LEAD_RE = re.compile(rf"{_LEADS}\s", re.I)
_VERB_RE = re.compile(_VERBS, re.I)
_GMAIL_OLD_ATTRIBUTION = re.compile(r"\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\s[^<>]*<[^<>\s]+@[^<>\s]+>")


def _is_quote(line: str) -> bool:
    """ ">" in the first column, or after one or two spaces (" > " quoting some clients use)."""
    return line[:3].lstrip(" ").startswith(">")


def _next_content(lines: Sequence[str], start: int) -> str | None:
    """The first non-blank line from `start`, looking past at most a screenful of blank lines."""
    for line in lines[start : start + _BLANK_RUN]:
        if line.strip():
            return line
    return None


def _ends_with_colon(text: str) -> bool:
    return text.rstrip().endswith((":", "："))


def _is_strong_attribution(text: str) -> bool:
    """Lead word ("On", "Am", "Le"...), a date digit before the verb, a final colon."""
    if not _ends_with_colon(text) or not _LEAD_RE.match(text):
        return False
    # A digit before the verb: real attributions carry a date or time, prose rarely does.
    verb = _VERB_RE.search(text)
    return verb is not None and any(ch.isdigit() for ch in text[: verb.start()])


def strong_attribution_span(lines: Sequence[str], i: int) -> int:
    """Lines (1-3) taken by an "On <date>, X wrote:" header starting at i; 0 when none.

    The header may wrap: "On Tue, ..., Jane Doe\\n<jane@example.org>\\nwrote:".
    """
    line = lines[i]
    if not line.strip() or _is_quote(line) or len(line) > _MAX_HEADER:
        return 0
    joined = line.strip()
    for span in range(1, 4):
        if _is_strong_attribution(joined):
            return span
        nxt = lines[i + span] if i + span < len(lines) else ""
        if not nxt.strip() or _is_quote(nxt) or len(joined) + len(nxt) > _MAX_HEADER:
            return 0
        joined = f"{joined} {nxt.strip()}"
    return 0


def weak_attribution_span(lines: Sequence[str], i: int) -> int:
    """Lines taken by "Jane wrote:" / "2012/4/2 Jane <j@x>" at i: an attribution only above a quote.

    It may wrap over up to three lines when it carries a date digit before the verb, as in
    "02.04.2012 14:20 user "bob@example.org" <\nbob@example.org> wrote:".
    """
    line = lines[i].strip()
    if not line or _is_quote(line) or len(line) > _MAX_HEADER:
        return 0
    if _GMAIL_OLD_ATTRIBUTION.fullmatch(line) or (_ends_with_colon(line) and _VERB_RE.search(line)):
        return 1
    if not any(ch.isdigit() for ch in line):
        return 0  # a wrapped header starts with its date; "Hi," above it is the author's
    joined = line
    for span in range(2, 4):
        nxt = lines[i + span - 1].strip() if i + span - 1 < len(lines) else ""
        if not nxt or _is_quote(nxt) or joined.endswith((".", "!", "?")):
            return 0
        joined = f"{joined} {nxt}"
        verb = _VERB_RE.search(joined) if _ends_with_colon(joined) else None
        if verb and any(ch.isdigit() for ch in joined[: verb.start()]):
            return span
    return 0


_SNIP = re.compile(
    r"\s*(?:\[\s*(?:\.{3}|…|snip|snipped)\s*\]|<\s*snip\s*>|\.{2,}\s*snip\s*\.{2,}|-+\s*snip\s*-+)\s*",
    re.I,
)


def _is_snip(line: str) -> bool:
    """ "[...]", "<snip>", "... snip ...": the writer marking quoted text they cut."""
    return len(line) <= 40 and _SNIP.fullmatch(line) is not None


def _quote_follows(lines: Sequence[str], start: int) -> bool:
    nxt = _next_content(lines, start)
    return nxt is not None and (_is_quote(nxt) or _is_snip(nxt))


# --- Outlook-style headers of an unquoted original --------------------------------------------

_ORIGINAL_MESSAGE = re.compile(
    r"\s*-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|oorspronkelijk bericht|messaggio originale|mensagem original|ursprungligt meddelande"
    r"|opprinnelig melding|oprindelig meddelelse|alkuperäinen viesti|wiadomość oryginalna"
    r"|původní zpráva|исходное сообщение)\s*-{2,}",  # a phone may glue "From: ..." on
    re.I,
)
_FORWARD_MARKER = re.compile(
    r"\s*(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré"
    r"|mensaje reenviado|doorgestuurd bericht|messaggio inoltrato|mensagem encaminhada"
    r"|vidarebefordrat meddelande)\s*-{2,}|begin forwarded message:)\s*",
    re.I,
)
_FROM_FIELD = re.compile(
    r"\s*\*?(?:from|de|von|van|da|från|fra|od|от|lähettäjä|feladó|kimden)\s*\*?\s*[:：]\s*\*?\s*\S",
    re.I,
)
_SENT_FIELD = re.compile(
    r"\s*\*?(?:sent|date|envoyé|gesendet|datum|enviado(?: el)?|enviada|fecha|verzonden|inviato|data"
    r"|skickat|sendt|lähetetty|wysłano|отправлено|gönderildi|elküldve)\s*\*?\s*[:：]",
    re.I,
)
_OTHER_FIELD = re.compile(
    r"\s*\*?(?:to|an|à|a|para|aan|till|til|do|кому|cc|subject|betreff|objet|asunto|onderwerp"
    r"|oggetto|assunto|ämne|emne|temat|тема)\s*\*?\s*[:：]",
    re.I,
)


def _is_field(line: str) -> bool:
    return len(line) <= _MAX_HEADER and any(
        field.match(line) for field in (_FROM_FIELD, _SENT_FIELD, _OTHER_FIELD)
    )


def _is_header_block(lines: Sequence[str], i: int) -> bool:
    """A run of header lines with "From:" and "Sent:"/"Date:" (Outlook, Apple, translations)."""
    if not _is_field(lines[i]):
        return False
    window = [line for line in lines[i : i + 1 + _LOOKAHEAD] if len(line) <= _MAX_HEADER]
    if not any(_FROM_FIELD.match(line) for line in window):
        return False
    if not any(_SENT_FIELD.match(line) for line in window):
        return False
    before = [line for line in lines[max(0, i - 3) : i] if line.strip()]
    # A forwarded message is content the author chose to share, not a quote: keep it.
    return not (before and _FORWARD_MARKER.fullmatch(before[-1]))


# --- list footers -----------------------------------------------------------------------------

_UNDERSCORES = re.compile(r"\s*_{10,}\s*")
_HASHES = re.compile(r"\s*#{10,}\s*")
_GROUPS_IO_RULE = re.compile(r"\s*(?:-=){5,}-?\s*")
_MAILING_LIST_LINE = re.compile(r"\S[^\n]{0,100}\smailing list(?:\s+--\s+\S+@\S+)?\s*", re.I)
_FOOTER_START = re.compile(
    r"\s*(?:to unsubscribe send an email to \S+@"  # Mailman 3
    r"|to unsubscribe, e-mail: \S+@"  # ezmlm (Apache lists)
    r"|you received this (?:message|topic) because you are subscribed to (?:the|a topic in the)"
    r" google groups"
    r"|--~--~-"  # old Google Groups rule
    r"|groups\.io links:"
    r"|to unsubscribe from the \S+ list,? click)",  # LISTSERV
    re.I,
)


def _window_mentions(lines: Sequence[str], i: int, pattern: str) -> bool:
    window = lines[i + 1 : i + 1 + _LOOKAHEAD]
    return any(re.search(pattern, line, re.I) for line in window if len(line) <= _MAX_HEADER)


def _is_footer(lines: Sequence[str], i: int) -> bool:
    line = lines[i]
    if _FOOTER_START.match(line):
        return True
    if _UNDERSCORES.fullmatch(line):
        return _window_mentions(lines, i, r"mailing list|listinfo|unsubscribe")
    if _HASHES.fullmatch(line):
        return _window_mentions(lines, i, r"to unsubscribe from the")
    if _GROUPS_IO_RULE.fullmatch(line):
        return _window_mentions(lines, i, r"groups\.io links")
    if _MAILING_LIST_LINE.fullmatch(line):
        return _window_mentions(lines, i, r"@|https?://|unsubscribe")
    return False


# --- cutting ----------------------------------------------------------------------------------

_SEPARATOR = re.compile(r"\s*(?:[-_=*#~+.]\s*){2,}")
_GLUED_RULE = "_" * 10


def _is_cut_point(lines: Sequence[str], i: int, last_quote: int) -> bool:
    """Everything from line i on is a footer or an original the author did not quote with ">"."""
    line = lines[i]
    if _ORIGINAL_MESSAGE.match(line):  # checked at any length: phones glue the original on
        return True
    if not line.strip() or _is_quote(line) or len(line) > _MAX_HEADER:
        return False
    if _is_footer(lines, i) or _is_header_block(lines, i):
        return True
    if line.strip() == PGP_SIGNATURE:
        return True
    # "On ... wrote:" over unquoted text: the original follows. When ">" quotes come later the
    # writer quotes with ">", so this line is a stray copy and the text below it is theirs.
    span = strong_attribution_span(lines, i) if i > last_quote else 0
    return span > 0 and not _quote_follows(lines, i + span)


def _drop_trailing_separators(lines: list[str]) -> list[str]:
    """Remove rule lines ("-----", "____") left at the end once a block below them is gone."""
    while lines and (not lines[-1].strip() or _SEPARATOR.fullmatch(lines[-1])):
        lines.pop()
    if lines and lines[-1].rstrip().endswith(_GLUED_RULE):
        # A footer rule glued to the last line when the body lacked a final newline.
        lines[-1] = lines[-1].rstrip().rstrip("_").rstrip()
    return lines


def cut_trailing_blocks(lines: list[str]) -> list[str]:
    """Cut at the first list footer, Outlook/forward header block or unquoted "On ... wrote:"."""
    last_quote = max((i for i, line in enumerate(lines) if _is_quote(line)), default=-1)
    for i in range(len(lines)):
        if _is_cut_point(lines, i, last_quote):
            return _drop_trailing_separators(lines[:i])
    return lines


def drop_quotes(lines: list[str]) -> list[str]:
    """Remove ">" lines and the attribution above them; the author's lines in between stay."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        span = strong_attribution_span(lines, i) or weak_attribution_span(lines, i)
        if span and _quote_follows(lines, i + span):
            i += span
            continue
        if not (_is_quote(line) or _is_snip(line)):
            out.append(line)
        i += 1
    return out
