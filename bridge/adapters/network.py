"""The publishing interface every network implements (X, Mastodon, Bluesky), and its value types.

A network adapter only translates: our post to the network's call, the network's answers to
these types, its failures to bridge.errors (RateLimited for a 429, with the reset time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import unquote, urlsplit

from bridge.compose.fit import TextRules
from bridge.errors import NotSent, RateLimited, Uncertain  # defined once, re-exported
from bridge.model import Outgoing  # a value the publish stage builds: defined with the types

__all__ = ["Network", "NotSent", "Outgoing", "RateLimited", "Replier", "Reply", "ReplyBatch",
           "TextRules", "Uncertain", "same_link"]

@dataclass(frozen=True, slots=True)
class Replier:
    """A reply's author as the network shows them."""

    id: str
    handle: str  # "user@instance" (Mastodon), "name.bsky.social" (Bluesky), "user" (X)
    name: str
    created_at: datetime | None = None

    @property
    def display(self) -> str:
        """'Name (@handle)' for the relay email; the handle alone when there is no name."""
        name = " ".join(self.name.split())
        return f"{name} (@{self.handle})" if name and name != self.handle else f"@{self.handle}"


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply to one of our posts, in plain text with links expanded."""

    id: str
    post_id: str  # our post it answers (directly or further down its thread)
    author: Replier
    text: str
    url: str  # the reply on the network, for the relay email
    created_at: datetime
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyBatch:
    """What one read returned; `cursor` covers it (store it with the replies, in one transaction)."""

    replies: tuple[Reply, ...]
    cursor: str | None
    reads: int = 0


class Network(Protocol):
    """One account on one network that the bridge posts to and reads replies from."""

    name: str

    def text_rules(self) -> TextRules:
        """The limit and link weight posts must fit (may ask the server once)."""
        ...

    def publish(self, post: Outgoing) -> str:
        """Post once; the new post's id. Raises RateLimited, Uncertain, NotSent, AuthError,
        PermanentError."""
        ...

    def find_post(self, post: Outgoing, since: datetime) -> str | None:
        """Our own post for this question, made since `since`, if the network has it."""
        ...

    def replies_since(self, cursor: str | None, posts: Sequence[str]) -> ReplyBatch:
        """Replies to `posts` (our post ids) that arrived after `cursor`."""
        ...

    def check_auth(self) -> str:
        """Prove the credentials work; the account's handle. Raises AuthError."""
        ...


def same_link(a: str, b: str) -> bool:
    """Equal as links: a network may re-encode the URL; scheme and host are case-blind."""
    return _link_key(a) == _link_key(b)


def _link_key(url: str) -> tuple[str, str, str, str]:
    parts = urlsplit(unquote(url.strip()))
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query)
