"""Write the post for a due question: a scrubbed summary, hashtags and the link, within the
network's length (twitter-text weights by default)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING

from bridge.compose.scrub import HANDLE
from bridge.compose.summary import clean_subject, summarise
from bridge.model import Mail

if TYPE_CHECKING:
    import jinja2

__all__ = ["ComposeSettings", "Draft", "clean_subject", "compose_post", "make_template_env",
           "weighted_length"]

TEMPLATE_NAME = "post.txt.j2"
ELLIPSIS = "…"
MAX_SUMMARY = 1000  # characters of a summary the length search works on (a post holds far fewer)


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
    needs_review: str | None = None  # why a moderator must see it first (e.g. a vague subject)


# --- the post: template, measured, truncated at a word boundary ---


def make_template_env(settings: ComposeSettings) -> jinja2.Environment:
    """Jinja for plain text (no autoescape): the admin's directory, or the packaged templates."""
    import jinja2  # here, not at import: commands that write no text (status) never load it

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
    from twitter_text import parse_tweet  # imported when first needed: it costs ~0.3 s to load
    from twitter_text.extract_urls import extract_urls_with_indices

    normal = _LINE_ENDS.sub("\n", unicodedata.normalize("NFC", text))
    if _NO_EMOJI.fullmatch(normal):
        # No character can start an emoji: weigh each by twitter-text's ranges, URLs 23. Exact
        # (pinned against parse_tweet) and ~30x cheaper than its emoji scan; the composer
        # measures each post several times while fitting it.
        urls = extract_urls_with_indices(normal)
        heavy = len(_WEIGHS_TWO.findall(normal))
        return len(normal) + heavy + sum(URL_WEIGHT - _url_weight(u["url"]) for u in urls)
    return int(parse_tweet(text).weightedLength)


def _url_weight(url: str) -> int:
    return len(url) + len(_WEIGHS_TWO.findall(url))


URL_WEIGHT = 23
_LINE_ENDS = re.compile(r"\r\n|\r|\n")
# Text with no character that can be (part of) an emoji: below U+1100 (but © and ®) and the
# General Punctuation block (but ‼ and ⁉): ellipses, dashes, curly quotes.
_NO_EMOJI = re.compile(r"[^\u00a9\u00ae\u1100-\u1fff\u203c\u2049\u2070-\U0010ffff]*")
# ...of which twitter-text v3 weighs 2 those outside its weight-1 ranges (U+0000-10FF,
# U+2000-200D, U+2010-201F, U+2032-2037).
_WEIGHS_TWO = re.compile(r"[\u200e\u200f\u2020-\u2031\u2038-\u206f]")


def compose_post(
    root: Mail, link: str, settings: ComposeSettings, template_env: jinja2.Environment,
    other_names: Iterable[str] = (),
) -> Draft:
    """Render the post for `root`; the first candidate summary that fits whole wins, else the
    first is shortened. `other_names`: people the list has seen, scrubbed like the asker."""
    template = template_env.get_template(TEMPLATE_NAME)

    def render(summary: str, lead_in: bool) -> str:
        text = template.render(
            summary=summary, hashtags=list(settings.hashtags), link=link, lead_in=lead_in
        )
        return " ".join(text.split())

    summary = summarise(root, other_names)
    text = _fit(summary.candidates or ("",), render, settings.max_weighted_length)
    _check_post(text, link)
    return Draft(root.message_id, text, weighted_length(text), link, summary.needs_review)


def _fit(candidates: Sequence[str], render: Callable[[str, bool], str], limit: int) -> str:
    # Prefer a whole summary with the lead-in, then without it (best candidate first); only
    # then cut the best one (without the lead-in, which would take room from the question).
    for lead_in in (True, False):
        for summary in (c for c in candidates if len(c) <= MAX_SUMMARY):
            text = render(summary, lead_in)
            if weighted_length(text) <= limit:
                return text
    if weighted_length(render("", False)) > limit:
        raise ValueError(f"the post does not fit in {limit} even with an empty summary")
    best = candidates[0][:MAX_SUMMARY]
    cut = _longest_prefix(best, lambda s: weighted_length(render(s, False)) <= limit)
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


_CUT_TRAIL = " \t\n,;:-–—("


def _shorten(summary: str, end: int) -> str:
    kept = _before_new_link(summary[:end].rstrip(_CUT_TRAIL))
    return kept + ELLIPSIS if kept else ""


def _before_new_link(kept: str) -> str:
    """A cut can make a domain out of a word ("name.aaaaaa" cut to "name.aaa", a real TLD): the
    summary was scrubbed of links before, so any link now is the cut's doing; end before it."""
    from twitter_text import extract_urls_with_indices

    urls = extract_urls_with_indices(kept)
    return kept[: urls[0]["indices"][0]].rstrip(_CUT_TRAIL) if urls else kept


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
    from twitter_text import extract_urls

    urls = extract_urls(text)
    others = [u for u in urls if u != link]
    if others:
        raise ValueError(f"post would carry a URL other than the thread link: {others[0]!r}")
    if link and link not in urls:
        raise ValueError("the thread link would not be read as one whole URL")
    if HANDLE.search(text.replace(link, " ")):
        raise ValueError("post would @mention someone")
