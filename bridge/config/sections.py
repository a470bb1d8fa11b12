"""Typed config sections for the outside services and the stages: frozen values only.

The modules that use a section receive it (or values taken from it) and never read the config
file; readers live in bridge.config.services and bridge.config.policy. Secrets stay references
here and are resolved only when a command builds the adapter that needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from bridge.config.secrets import SecretRef

X_API_HOST = "https://api.twitter.com"  # tweepy's own (hard-coded) host: the default base URL
OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
Security = Literal["tls", "starttls", "plain"]


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    username: str
    port: int = 993
    security: str = "tls"  # tls | starttls | plain
    allow_plaintext: bool = False
    auth: str = "password"  # password | xoauth2
    password: SecretRef | None = None
    oauth2_token: SecretRef | None = None
    folder: str = "INBOX"
    ca_file: str = ""
    batch_size: int = 200
    max_message_bytes: int = 25_000_000
    idle_refresh: timedelta = timedelta(minutes=10)
    timeout: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class XSettings:
    """[x]: the account the bridge posts as. Secrets are references, resolved when building."""

    api_base_url: str = X_API_HOST
    auth: str = "oauth1"  # oauth1 (four keys) | oauth2 (a user-context token)
    consumer_key: SecretRef | None = None
    consumer_secret: SecretRef | None = None
    access_token: SecretRef | None = None
    access_token_secret: SecretRef | None = None
    oauth2_user_token: SecretRef | None = None
    timeout: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class NetworkCaps:
    """A network section's own caps, dry run and quiet hours; None takes [publish]'s value.
    Posting on Mastodon and Bluesky costs nothing, so their spend is always 0."""

    dry_run: bool | None = None
    max_per_hour: int | None = None
    max_per_day: int | None = None
    min_spacing: timedelta | None = None
    quiet_hours: str | None = None


@dataclass(frozen=True, slots=True)
class MastodonSettings:
    """[mastodon]: the instance and the account's access token (scopes: write:statuses,
    read:notifications, read:statuses, read:accounts)."""

    api_base_url: str
    access_token: SecretRef | None = None
    visibility: str = "public"  # public | unlisted
    language: str = "en"
    timeout: timedelta = timedelta(seconds=30)
    caps: NetworkCaps = field(default_factory=NetworkCaps)


@dataclass(frozen=True, slots=True)
class BlueskySettings:
    """[bluesky]: the account (handle or DID) and an app password, never the account password."""

    identifier: str
    app_password: SecretRef | None = None
    service: str = "https://bsky.social"  # the account's PDS (or the entryway)
    language: str = "en"
    link_card: bool = False  # attach an external link card with the thread's subject
    timeout: timedelta = timedelta(seconds=30)
    caps: NetworkCaps = field(default_factory=NetworkCaps)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: Security = "starttls"
    username: str = ""
    password: SecretRef | None = field(default=None, repr=False)
    ca_file: str | None = None
    allow_plaintext: bool = False
    timeout: float = 30.0
    attempts: int = 3
    retry_wait: float = 2.0


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True, slots=True)
class ReplySettings:
    reply_window: timedelta = timedelta(days=7)  # how long after posting we look for replies
    min_poll_interval: timedelta = timedelta(minutes=15)
    daily_read_budget: int = 500  # posts read from X per rolling 24 hours (~$0.001 each)
    use_search: bool = True  # also search each conversation (finds replies to replies)
