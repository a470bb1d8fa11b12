"""The one rule for where plaintext may go: loopback only, and only when the admin allows it."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP literals; names are never resolved (DNS can lie)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plaintext_refused(security: str, allow_plaintext: bool, host: str) -> bool:
    """A `plain` mail connection (IMAP, SMTP) needs allow_plaintext and a loopback host."""
    return security == "plain" and not (allow_plaintext and is_loopback(host))


def http_refused(url: str) -> bool:
    """An API base URL must be https; plain http only to a loopback host (a test server)."""
    parts = urlsplit(url)
    return not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")))
