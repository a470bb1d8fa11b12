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


def check_loopback(host: str) -> None:
    """Metrics tell anyone who can read them how the bridge is doing: never off the machine."""
    try:
        ipaddress.ip_address(host)  # bind an address, never a name
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address; use 127.0.0.1 or [::1]") from None
    if not is_loopback(host):
        raise ValueError(f"{host} is not a loopback address; metrics are served on 127.0.0.1 or "
                         "[::1] only (put a reverse proxy with authentication in front if needed)")
