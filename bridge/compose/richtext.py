"""Rich text for Bluesky (pure): the link shown short, hashtags and the link as byte-range facets.

On Bluesky a plain "#tag" or URL is just text: each must be a facet whose range counts UTF-8
bytes of the text, not characters. The link may be shown shortened (host and path, cut with an
ellipsis) while its facet carries the full URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import grapheme

SHORT_LINK_MAX = 26  # graphemes the shown link may take (what the text rules count for a link)
_HASHTAG = re.compile(r"(?<![\w#&])#(\w*[^\W\d_]\w*)")  # "#1" is not a tag on Bluesky either

FacetKind = Literal["link", "tag"]


@dataclass(frozen=True, slots=True)
class Facet:
    kind: FacetKind
    byte_start: int
    byte_end: int
    value: str  # the full URL, or the tag without "#"


@dataclass(frozen=True, slots=True)
class RichText:
    text: str
    facets: tuple[Facet, ...]


def shorten_link(link: str, most: int = SHORT_LINK_MAX) -> str:
    """What the post shows for `link`: without the scheme and "www.", cut to `most` graphemes."""
    parts = urlsplit(link)
    shown = (parts.netloc.removeprefix("www.") + parts.path + ("?" + parts.query if parts.query
                                                                 else "")).rstrip("/")
    if grapheme.length(shown) <= most:
        return shown
    return str(grapheme.slice(shown, 0, most - 1)) + "…"


def rich_text(text: str, link: str) -> RichText:
    """`text` with `link` shown short, a link facet over it and a tag facet over each hashtag."""
    shown = shorten_link(link)
    at = text.find(link)
    if at < 0:
        return RichText(text, tuple(_tags(text, ())))
    out = text[:at] + shown + text[at + len(link):]
    start = len(out[:at].encode())
    span = (start, start + len(shown.encode()))
    link_facet = Facet("link", span[0], span[1], link)
    facets = sorted([link_facet, *_tags(out, [span])], key=lambda f: f.byte_start)
    return RichText(out, tuple(facets))


def _tags(text: str, taken: list[tuple[int, int]] | tuple[()]) -> list[Facet]:
    found = []
    for match in _HASHTAG.finditer(text):
        start = len(text[:match.start()].encode())
        end = start + len(match.group(0).encode())
        if not any(a < end and start < b for a, b in taken):
            found.append(Facet("tag", start, end, match.group(1)))
    return found
