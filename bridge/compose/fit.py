"""What each network counts (pure): its limit, what a link weighs, and the composer's budget.

X weighs text by twitter-text v3 (URLs 23); Mastodon counts graphemes with each URL at the
instance's weight; Bluesky counts graphemes of the text as shown (the link shortened). The
composer measures with twitter-text, which never weighs a non-URL grapheme below 1: so a post
composed within `composer_limit` fits the network's own count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grapheme

X_URL_WEIGHT = 23  # what the composer's twitter-text count gives every URL


@dataclass(frozen=True, slots=True)
class TextRules:
    """How a network measures a post: its limit, and what a link weighs (None: its own length)."""

    network: str
    max_length: int
    url_weight: int | None = 23

    def length(self, text: str, links: Sequence[str] = ()) -> int:
        """The network's count of `text`, each of `links` (found in it) weighted as a URL."""
        total = int(grapheme.length(text))
        if self.url_weight is not None:
            for link in links:
                total += text.count(link) * (self.url_weight - grapheme.length(link))
        return total

    def fits(self, text: str, links: Sequence[str] = ()) -> bool:
        return self.length(text, links) <= self.max_length


def composer_limit(rules: TextRules, x_url_weight: int = X_URL_WEIGHT) -> int:
    """The twitter-text budget that guarantees a fit under `rules` for a post with one link."""
    if rules.url_weight is None:
        raise ValueError("a network that counts links at their length needs the link to budget")
    return rules.max_length - max(0, rules.url_weight - x_url_weight)
