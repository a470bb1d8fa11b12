"""What the network adapters share: the values and errors they translate into (re-exported from
bridge.model and bridge.errors; the interface itself is bridge.stages.network) and link matching.

A network adapter only translates: our post to the network's call, the network's answers to
these types, its failures to bridge.errors (RateLimited for a 429, with the reset time).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from bridge.compose.fit import TextRules
from bridge.errors import NotSent, RateLimited, Uncertain  # defined once, re-exported
from bridge.model import Outgoing, Replier, Reply, ReplyBatch  # values: defined with the types

__all__ = ["NotSent", "Outgoing", "RateLimited", "Replier", "Reply", "ReplyBatch",
           "TextRules", "Uncertain", "same_link"]

def same_link(a: str, b: str) -> bool:
    """Equal as links: a network may re-encode the URL; scheme and host are case-blind."""
    return _link_key(a) == _link_key(b)


def _link_key(url: str) -> tuple[str, str, str, str]:
    parts = urlsplit(unquote(url.strip()))
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query)
