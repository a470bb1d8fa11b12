"""The interface every network adapter implements (Mastodon, Bluesky; X through its Publisher):
stages and the service see a network only through it. Its values live in bridge.model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bridge.compose.fit import TextRules
from bridge.model import Outgoing, ReplyBatch


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
