"""Readers of the sections for outside services ([imap], [smtp], [x], [metrics]): TOML to the
frozen values in bridge.config.sections, every problem collected with its key path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bridge.config.reader import Section
from bridge.config.sections import (
    OAUTH1_KEYS,
    X_API_HOST,
    BlueskySettings,
    ImapConfig,
    MastodonSettings,
    MetricsSettings,
    NetworkCaps,
    Security,
    SmtpSettings,
    XSettings,
)
from bridge.endpoints import check_loopback, http_refused, plaintext_refused

DEFAULT_SMTP_PORTS = {"tls": 465, "starttls": 587, "plain": 25}
DEFAULT_LISTEN = "127.0.0.1:9464"


def read_imap(sec: Section) -> ImapConfig:
    security = sec.string("security", "tls", ("tls", "starttls", "plain"))
    cfg = ImapConfig(
        host=sec.required_string("host"),
        username=sec.required_string("username"),
        port=sec.integer("port", 993 if security == "tls" else 143, 1, 65535),
        security=security,
        allow_plaintext=sec.boolean("allow_plaintext", False),
        auth=sec.string("auth", "password", ("password", "xoauth2")),
        password=sec.secret("password", required=sec.data.get("auth", "password") == "password"),
        oauth2_token=sec.secret("oauth2_token", required=sec.data.get("auth") == "xoauth2"),
        folder=sec.string("folder", "INBOX"),
        ca_file=sec.string("ca_file"),
        batch_size=sec.integer("batch_size", 200, 1, 5000),
        max_message_bytes=sec.integer("max_message_bytes", 25_000_000, 1024),
        idle_refresh=sec.duration("idle_refresh", "10m"),
        timeout=sec.duration("timeout", "30s"),
    )
    if plaintext_refused(cfg.security, cfg.allow_plaintext, cfg.host):
        sec.problems.append(
            f"{sec.key('security')}: plaintext IMAP is allowed only with allow_plaintext = true "
            "and a loopback host; use tls or starttls"
        )
    if cfg.idle_refresh > timedelta(minutes=25) or cfg.idle_refresh < timedelta(seconds=10):
        sec.problems.append(f"{sec.key('idle_refresh')}: must be between 10s and 25m")
    if cfg.ca_file and not Path(cfg.ca_file).is_file():
        sec.problems.append(f"{sec.key('ca_file')}: no such file {cfg.ca_file}")
    sec.finish()
    return cfg


def read_smtp(sec: Section) -> SmtpSettings:
    """SmtpSettings from the [smtp] table; every problem is collected with its key path."""
    host = sec.required_string("host")
    security: Security = sec.string("security", "starttls", choices=("tls", "starttls", "plain"))  # type: ignore[assignment]
    settings = SmtpSettings(
        host=host, port=sec.integer("port", DEFAULT_SMTP_PORTS[security], 1, 65535), security=security,
        username=sec.string("username"), password=sec.secret("password", required=False),
        ca_file=sec.string("ca_file") or None, allow_plaintext=sec.boolean("allow_plaintext", False),
        timeout=sec.number("timeout", 30.0, minimum=1.0), attempts=sec.integer("attempts", 3, 1, 10),
        retry_wait=sec.number("retry_wait", 2.0),
    )
    if settings.username and settings.password is None:
        sec.problems.append(f"{sec.key('password')}: required when username is set")
    if host and plaintext_refused(security, settings.allow_plaintext, host):
        sec.problems.append(f"{sec.key('security')}: plain is allowed only with allow_plaintext "
                            "on a loopback host")
    sec.finish()
    return settings


def read_x(sec: Section) -> XSettings:
    auth = sec.string("auth", "oauth1", choices=("oauth1", "oauth2"))
    oauth1 = auth == "oauth1"
    keys = {name: sec.secret(name, required=oauth1) for name in OAUTH1_KEYS}
    token = sec.secret("oauth2_user_token", required=not oauth1)
    if oauth1 and "oauth2_user_token" in sec.data:
        sec.problems.append(f"{sec.key('oauth2_user_token')}: only with auth = \"oauth2\"")
    if not oauth1 and any(name in sec.data for name in OAUTH1_KEYS):
        sec.problems.append(f"{sec.path}: the OAuth 1.0a keys are only for auth = \"oauth1\"")
    timeout = sec.duration("timeout", "30s")
    if not timedelta(seconds=1) <= timeout <= timedelta(minutes=5):
        sec.problems.append(f"{sec.key('timeout')}: must be between 1s and 5m")
    base = sec.string("api_base_url", X_API_HOST).rstrip("/")
    _check_base_url(base, sec)
    sec.finish()
    return XSettings(api_base_url=base, auth=auth, oauth2_user_token=token, timeout=timeout,
                     **keys)


def _check_base_url(url: str, sec: Section, key: str = "api_base_url") -> None:
    if http_refused(url):
        sec.problems.append(f"{sec.key(key)}: must be https (http only on loopback)")


def _read_caps(sec: Section) -> NetworkCaps:
    """The optional per-network overrides of [publish] (absent: [publish]'s value)."""
    def has(key: str) -> bool:
        return key in sec.data

    return NetworkCaps(
        dry_run=sec.boolean("dry_run", False) if has("dry_run") else None,
        max_per_hour=sec.integer("max_per_hour", 1, 0, 1000) if has("max_per_hour") else None,
        max_per_day=sec.integer("max_per_day", 1, 0, 10000) if has("max_per_day") else None,
        min_spacing=sec.duration("min_spacing", "0s") if has("min_spacing") else None,
        quiet_hours=sec.string("quiet_hours") if has("quiet_hours") else None,
    )


def _timeout(sec: Section) -> timedelta:
    timeout = sec.duration("timeout", "30s")
    if not timedelta(seconds=1) <= timeout <= timedelta(minutes=5):
        sec.problems.append(f"{sec.key('timeout')}: must be between 1s and 5m")
    return timeout


def read_mastodon(sec: Section) -> MastodonSettings:
    """[mastodon]: api_base_url (the instance), access_token (a secret), visibility, language."""
    base = sec.required_string("api_base_url").rstrip("/")
    if base:
        _check_base_url(base, sec)
    settings = MastodonSettings(
        api_base_url=base, access_token=sec.secret("access_token", required=True),
        visibility=sec.string("visibility", "public", ("public", "unlisted")),
        language=sec.string("language", "en"), timeout=_timeout(sec), caps=_read_caps(sec))
    sec.finish()
    return settings


def read_bluesky(sec: Section) -> BlueskySettings:
    """[bluesky]: identifier (handle or DID), app_password (a secret), service, language."""
    service = sec.string("service", "https://bsky.social").rstrip("/")
    _check_base_url(service, sec, "service")
    settings = BlueskySettings(
        identifier=sec.required_string("identifier").removeprefix("@"),
        app_password=sec.secret("app_password", required=True), service=service,
        language=sec.string("language", "en"), link_card=sec.boolean("link_card", False),
        timeout=_timeout(sec), caps=_read_caps(sec))
    sec.finish()
    return settings


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:9464" or "[::1]:9464" -> (host, port); ValueError unless host is loopback."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"expected HOST:PORT such as {DEFAULT_LISTEN}, got {text!r}")
    host = host.strip("[]")
    if host.lower() == "localhost":
        host = "127.0.0.1"  # bind an address, not a name that resolves to who knows what
    check_loopback(host)
    return host, int(port_text)


def read_metrics(sec: Section) -> MetricsSettings:
    """The [metrics] table: enabled (false), listen ("127.0.0.1:9464")."""
    enabled = sec.boolean("enabled", False)
    listen = sec.string("listen", DEFAULT_LISTEN)
    sec.finish()
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        sec.problems.append(f"{sec.key('listen')}: {exc}")
        host, port = parse_listen(DEFAULT_LISTEN)
    return MetricsSettings(enabled=enabled, host=host, port=port)
