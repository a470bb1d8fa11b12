"""Recognise our own relay email when the list delivers it back to us: pure, headers in, bool out.

Strong signs (any one suffices): the Message-ID is one we stored before sending, or the token
header is a valid HMAC of that Message-ID. Weak signs count only together: our From address
(also where a list's DMARC rewrite moved it to Reply-To / X-Original-From) and a Message-ID in
the pattern the relay generates for our domain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bridge.mail.headers import clean_message_id, parse_address

TOKEN_HEADER = "X-Listserv-Bridge"
TOKEN_LENGTH = 32  # hex digits: 128 bits of the HMAC-SHA256
MESSAGE_ID_PREFIX = "lsb-relay."
_ADDRESS_HEADERS = ("From", "Reply-To", "X-Original-From", "Sender")


class HeaderSource(Protocol):
    """Anything with a `get(name)` for header values: email.message.Message, a dict, ..."""

    def get(self, name: str, /) -> object: ...


@dataclass(frozen=True, slots=True)
class EchoSettings:
    """What our relays look like: the bridge's From address, Message-ID domain and token key."""

    from_address: str
    message_id_domain: str
    key: bytes = field(repr=False)


def make_token(key: bytes, message_id: str) -> str:
    """The token header value: HMAC-SHA256(key, message id without <>), truncated hex."""
    digest = hmac.new(key, message_id.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return digest.hexdigest()[:TOKEN_LENGTH]


def is_our_message_id(message_id: str, domain: str) -> bool:
    """True when the id has the shape the relay generates: lsb-relay.<token>@<our domain>."""
    pattern = rf"{re.escape(MESSAGE_ID_PREFIX)}[0-9a-z.]+@{re.escape(domain.lower())}"
    return bool(domain) and re.fullmatch(pattern, message_id.lower()) is not None


def is_our_relay(headers: HeaderSource, known_ids: Container[str], settings: EchoSettings) -> bool:
    """Whether a message is a relay the bridge sent (see the module docstring for the signs)."""
    message_id = clean_message_id(_header(headers, "Message-ID"))
    if message_id is None:
        return False
    if message_id in known_ids or _valid_token(headers, message_id, settings.key):
        return True
    return _from_us(headers, settings.from_address) and is_our_message_id(
        message_id, settings.message_id_domain
    )


def _valid_token(headers: HeaderSource, message_id: str, key: bytes) -> bool:
    value = _header(headers, TOKEN_HEADER)
    if not value or not key:
        return False
    return hmac.compare_digest(value.strip().lower(), make_token(key, message_id))


def _from_us(headers: HeaderSource, from_address: str) -> bool:
    ours = from_address.strip().lower()
    for name in _ADDRESS_HEADERS:
        value = _header(headers, name)
        if value and parse_address(value)[1] == ours:
            return True
    return False


def _header(headers: HeaderSource, name: str) -> str | None:
    """A header value as str, looking the name up case-insensitively in plain mappings too."""
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):
        wanted = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
