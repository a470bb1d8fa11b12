"""The X account as a Publisher: posting, and finding our posts by link."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote, urlsplit

import structlog

from bridge.adapters.x_client import XClient, XUser

FIND_LIMIT = 300  # own posts read per lookup (X bills reads; caps keep us far below this)

log = structlog.get_logger(__name__)


class XPublisher:
    """Publisher over XClient; the account (GET /2/users/me) is asked once and remembered."""

    def __init__(self, client: XClient) -> None:
        self._client = client
        self._me: XUser | None = None

    def publish(self, text: str) -> str:
        return self._client.create_post(text)

    def find_post(self, link: str, since: datetime) -> str | None:
        """Our post whose expanded link (not the t.co text) is `link`; the oldest if several."""
        if self._me is None:
            self._me = self._client.me()
        posts = self._client.recent_own_posts(self._me.id, since=since, max_results=FIND_LIMIT)
        matches = [p.id for p in posts if any(same_link(u, link) for u in p.expanded_urls)]
        if len(matches) > 1:
            log.warning("post_link_found_twice", link=link, post_ids=matches)
        return matches[0] if matches else None

    def check_auth(self) -> str:
        self._me = self._client.me()
        return self._me.username


def same_link(a: str, b: str) -> bool:
    """Equal as links: X may re-encode the URL it expands; scheme and host are case-blind."""
    return _link_key(a) == _link_key(b)


def _link_key(url: str) -> tuple[str, str, str, str]:
    parts = urlsplit(unquote(url.strip()))
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query)
