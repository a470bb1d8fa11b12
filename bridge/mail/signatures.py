"""Line rules that remove what closes a body: signatures, phone taglines, sign-offs, PGP armor.

Each rule inspects only short lines near the end, so a whole body is handled in linear time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# --- OpenPGP clear-signed text (RFC 4880 section 7) ------------------------------------------

_PGP_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"


def drop_pgp_armor(lines: list[str]) -> list[str]:
    """Remove the clear-sign header and its "Hash:" lines, and undo "- " dash-escaping."""
    if _PGP_SIGNED not in (line.strip() for line in lines):
        return lines
    out: list[str] = []
    in_header = False
    for line in lines:
        if line.strip() == _PGP_SIGNED:
            in_header = True
        elif in_header and line.strip():
            continue  # "Hash: SHA256" armor headers up to the blank line
        elif in_header:
            in_header = False
        else:
            out.append(line[2:] if line.startswith("- ") else line)
    return out


# --- signatures -------------------------------------------------------------------------------

_SIG_MAX_LINES = 15
_MOBILE = re.compile(
    r"(?:sent (?:from|with|via) (?:my )?[\w.\- ]{1,40}|get outlook for (?:ios|android)"
    r"|envoyé (?:de|depuis) mon [\w\- ]{1,30}|von meinem [\w\- ]{1,30} gesendet"
    r"|enviado (?:desde|de) mi [\w\- ]{1,30}|enviado do meu [\w\- ]{1,30}"
    r"|verzonden (?:vanaf|met) mijn [\w\- ]{1,30}|inviato da(?:l mio)? [\w\- ]{1,30}"
    r"|skickat från min [\w\- ]{1,30}|sendt fra min [\w\- ]{1,30})",
    re.I,
)
_SIGN_OFF = re.compile(
    r"(?:thanks|thank you|many thanks|thanks again|thanks in advance|thanks a lot|tia|cheers"
    r"|regards|best regards|kind regards|warm regards|warmest regards|best wishes|best"
    r"|all the best|sincerely|yours|yours sincerely|yours truly|respectfully|cordialement"
    r"|bien à vous|bien cordialement|mit freundlichen grüßen|mit freundlichen grüssen"
    r"|freundliche grüße|viele grüße|beste grüße|liebe grüße|gruß|grüße|lg|mfg|saludos"
    r"|un saludo|atentamente|groeten|met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?"
    r"|cordiali saluti|saluti|distinti saluti|atenciosamente|abraços|obrigado|obrigada"
    r"|med vänlig hälsning|med vänliga hälsningar|hälsningar|mvh|venlig hilsen|hilsen)"
    r"[\s,.!\-–—]*",
    re.I,
)
_SIGN_OFF_TAIL_LINES = 6
_SIGN_OFF_TAIL_WIDTH = 80


def _non_blank(lines: Sequence[str]) -> list[str]:
    return [line for line in lines if line.strip()]


def drop_signature(lines: list[str]) -> list[str]:
    """Cut at the first "-- " delimiter followed by at most a short block of lines."""
    cut, below = len(lines), 0
    for i in range(len(lines) - 1, -1, -1):
        text = lines[i].strip()
        if text == "--":
            cut = i
        elif text:
            below += 1
            if below > _SIG_MAX_LINES:
                break
    return lines[:cut]


def drop_mobile_signature(lines: list[str]) -> list[str]:
    """Cut "Sent from my iPhone" / "Get Outlook for iOS" (and translations) near the end."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    for i in content[-3:]:
        text = lines[i].strip()
        if len(text) <= 60 and _MOBILE.fullmatch(text):
            return lines[:i]
    return lines


def _is_sign_off_tail(tail: Sequence[str]) -> bool:
    """Lines under a sign-off look like a name/title/phone block, not more questions."""
    rest = _non_blank(tail)
    return len(rest) <= _SIGN_OFF_TAIL_LINES and all(
        len(line.strip()) <= _SIGN_OFF_TAIL_WIDTH and "?" not in line for line in rest
    )


def drop_sign_off(lines: list[str]) -> list[str]:
    """Cut "Thanks,\\nJane Doe\\nLibrarian" when it closes the text and text comes before it."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    for i in content[-(_SIGN_OFF_TAIL_LINES + 1) :]:
        text = lines[i].strip()
        if len(text) <= 40 and _SIGN_OFF.fullmatch(text) and _is_sign_off_tail(lines[i + 1 :]):
            return lines[:i] if content[0] < i else lines
    return lines
