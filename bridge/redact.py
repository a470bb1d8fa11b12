"""Secrets out of every error text, before it is printed, logged or stored.

Two nets: every secret value the bridge has resolved (and its URL-quoted form, as an OAuth
header carries it), and credentials in shapes servers echo back whoever sent them
(Authorization headers, OAuth parameters, bearer/basic tokens, a password in a URL, key=value).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
MIN_SECRET = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_known: list[str] = []  # longest first

_SHAPES = re.compile(
    r"""(?ix)
    (\b(?:proxy-)?authorization\\?["']\s*[:=]\s*\\?["'])(?:\\["']|[^"'\r\n])+
  | (\b(?:proxy-)?authorization\s*[:=]\s*)[^\r\n]+
  | (\boauth_(?:consumer_key|token|signature|verifier|nonce|callback)\s*=\s*\\?["']?)[^"'\\,&\s]+
  | (\b(?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]{8,}=*
  | (://[^:/@\s]+:)[^@/\s]+(?=@)
  | (\b(?:password|passwd|pwd|secret|client_secret|api_key|apikey|access_token|refresh_token|
        consumer_secret|token_secret)(?:\s*=\s*|\\?["']\s*:\s*)\\?["']?)[^"'\\\s,&;}]+
    """
)


def remember(secret: str) -> None:
    """Mask this value (and its URL-quoted forms) in every text redacted from now on."""
    if len(secret) < MIN_SECRET:
        return
    with _lock:
        forms = {secret, quote(secret, safe=""), quote_plus(secret)} - set(_known)
        if forms:
            _known.extend(forms)
            _known.sort(key=len, reverse=True)


def forget_all() -> None:
    """Forget every remembered value (a test's secrets are not the next test's)."""
    with _lock:
        _known.clear()


def redact(text: str) -> str:
    """`text` with every known secret value and every credential-shaped part replaced."""
    for secret in list(_known):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _SHAPES.sub(_mask, text)


def _mask(match: re.Match[str]) -> str:
    prefix = next((g for g in match.groups() if g is not None), "")
    return prefix + REDACTED
