"""@handles, one rule for all: what a handle is (X; Mastodon's user@instance; Bluesky's domain
name), and the @mentions in front of a reply (moderation reads past them, the relay email leaves
them out)."""

from __future__ import annotations

import re

HANDLE = r"[A-Za-z0-9_]{1,15}"  # X's rule for a username
_HANDLE = re.compile(HANDLE)
_CONFIG_HANDLE = re.compile(rf"@?({HANDLE})")
# A mention on any network: X's "@jane", Mastodon's "@jane@social.example", Bluesky's
# "@ana.bsky.social".
_ANY_HANDLE = r"[A-Za-z0-9_-]{1,63}(?:@[A-Za-z0-9-]{1,63})?(?:\.[A-Za-z0-9-]{1,63}){0,8}"
_MENTION = re.compile(rf"(?<![\w@])@{_ANY_HANDLE}")
_LEADING_MENTIONS = re.compile(rf"^\s*(?:@{_ANY_HANDLE}(?:\s+|$))+")


def strip_leading_mentions(text: str) -> str:
    """The text after the run of "@bridge @asker " mentions at its start ("" if nothing else)."""
    return _LEADING_MENTIONS.sub("", text, count=1)


def remove_mentions(text: str) -> str:
    """Every @mention replaced by a space."""
    return _MENTION.sub(" ", text)


# Mastodon: user@instance; Bluesky: a domain name (ana.bsky.social). Both shown with one "@".
_FEDI_HANDLE = re.compile(r"[A-Za-z0-9_]{1,30}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_DOMAIN_HANDLE = re.compile(r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")


def clean_username(username: str) -> str:
    """The @handle without '@', or "" when it follows no network's rules (X: 1-15 word
    characters; Mastodon: user@instance; Bluesky: a domain name)."""
    handle = username.strip().removeprefix("@")
    if len(handle) > 253:
        return ""
    if _HANDLE.fullmatch(handle) or _FEDI_HANDLE.fullmatch(handle) or _DOMAIN_HANDLE.fullmatch(handle):
        return handle
    return ""


def parse_handle(value: str) -> str | None:
    """A handle an admin wrote ("@Jane" or "jane"), lower-cased; None when it is not one."""
    match = _CONFIG_HANDLE.fullmatch(value.strip())
    return match.group(1).lower() if match else None
