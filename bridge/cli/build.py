"""Build the outside-world adapters from config (kept apart from the CLI's argument handling)."""

from __future__ import annotations

from dataclasses import replace

from mastodon import Mastodon

from bridge.adapters.bluesky import BlueskyAccount, BlueskyLogin, make_client
from bridge.adapters.imap import ImapMailbox
from bridge.adapters.mastodon import MastodonAccount
from bridge.adapters.smtp import SmtpSender
from bridge.adapters.x_account import XPublisher
from bridge.adapters.x_client import XClient
from bridge.config.secrets import SecretError, SecretRef
from bridge.config.sections import (
    OAUTH1_KEYS,
    BlueskySettings,
    ImapConfig,
    MastodonSettings,
    NetworkCaps,
    SmtpSettings,
    XSettings,
)
from bridge.config.settings import Config
from bridge.decide.caps import PublishSettings
from bridge.errors import ConfigError
from bridge.service.networks import NetworkService
from bridge.service.pipeline import Services
from bridge.store.sessions import StoredSession


def build_mailbox(cfg: ImapConfig, connect_attempts: int = 4) -> ImapMailbox:
    """An ImapMailbox whose secrets are read at each connect (tokens rotate)."""
    password = cfg.password.resolve if cfg.password and cfg.auth == "password" else None
    token = cfg.oauth2_token.resolve if cfg.oauth2_token and cfg.auth == "xoauth2" else None
    return ImapMailbox(
        host=cfg.host,
        port=cfg.port,
        security=cfg.security,  # type: ignore[arg-type]  # validated by config
        username=cfg.username,
        password=password,
        oauth2_token=token,
        folder=cfg.folder,
        ca_file=cfg.ca_file or None,
        allow_plaintext=cfg.allow_plaintext,
        timeout=cfg.timeout.total_seconds(),
        batch_size=cfg.batch_size,
        max_message_bytes=cfg.max_message_bytes,
        idle_seconds=cfg.idle_refresh.total_seconds(),
        connect_attempts=connect_attempts,
    )


def make_smtp_sender(settings: SmtpSettings) -> SmtpSender:
    secret = settings.password
    return SmtpSender(
        host=settings.host, port=settings.port, security=settings.security,
        username=settings.username, password=secret.resolve if secret else None,
        ca_file=settings.ca_file, allow_plaintext=settings.allow_plaintext,
        timeout=settings.timeout, attempts=settings.attempts, retry_wait=settings.retry_wait,
    )


def build_x_client(settings: XSettings) -> XClient:
    """The XClient, with every secret read now; a missing secret is a ConfigError."""
    names = OAUTH1_KEYS if settings.auth == "oauth1" else ("oauth2_user_token",)
    values: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        ref: SecretRef | None = getattr(settings, name)
        if ref is None:
            problems.append(f"x.{name}: required")
            continue
        try:
            values[name] = ref.resolve()
        except SecretError as exc:
            problems.append(f"x.{name}: {exc}")
    if problems:
        raise ConfigError(problems)
    return XClient(api_base_url=settings.api_base_url, timeout=settings.timeout.total_seconds(),
                   **values)


def _resolve(ref: SecretRef | None, key: str) -> str:
    if ref is None:
        raise ConfigError([f"{key}: required"])
    try:
        return ref.resolve()
    except SecretError as exc:
        raise ConfigError([f"{key}: {exc}"]) from exc


def build_mastodon(settings: MastodonSettings) -> MastodonAccount:
    """The Mastodon account, its token read now. Mastodon.py must not wait through a 429
    (ratelimit_method="throw": the stage schedules the retry)."""
    api = Mastodon(access_token=_resolve(settings.access_token, "mastodon.access_token"),
                   api_base_url=settings.api_base_url, ratelimit_method="throw",
                   request_timeout=settings.timeout.total_seconds(), version_check_mode="none")
    return MastodonAccount(api, visibility=settings.visibility, language=settings.language)


def build_bluesky(settings: BlueskySettings, db_path: str) -> BlueskyAccount:
    """The Bluesky account: its session is kept in the state database; the app password is read
    only when a session has to be opened."""
    def password() -> str:
        return _resolve(settings.app_password, "bluesky.app_password")

    client = make_client(settings.service, settings.timeout.total_seconds())
    return BlueskyAccount(client, BlueskyLogin(settings.identifier, password),
                          StoredSession(db_path, "bluesky"), language=settings.language,
                          link_card=settings.link_card)


def network_publish(base: PublishSettings, caps: NetworkCaps) -> PublishSettings:
    """[publish] with the network's own overrides; posting there is free (no spend)."""
    chosen = {name: getattr(caps, name) for name in NetworkCaps.__dataclass_fields__
              if getattr(caps, name) is not None}
    return replace(base, price_post=0.0, price_post_with_link=0.0, **chosen)


def build_networks(config: Config, db_path: str | None = None) -> list[NetworkService]:
    """Mastodon and Bluesky, each as configured (none when their sections are absent)."""
    found = []
    if config.mastodon is not None:
        found.append(NetworkService(build_mastodon(config.mastodon),
                                    network_publish(config.publish, config.mastodon.caps)))
    if config.bluesky is not None:
        found.append(NetworkService(build_bluesky(config.bluesky, db_path or config.db_path()),
                                    network_publish(config.publish, config.bluesky.caps)))
    return found


def build_services(config: Config) -> Services:
    """Every adapter the configured stages need; a stage without config is simply off."""
    mailbox = build_mailbox(config.imap) if config.imap else None
    publisher = reply_source = None
    if config.x is not None:
        client = build_x_client(config.x)
        publisher, reply_source = XPublisher(client), client
    sender = make_smtp_sender(config.smtp) if config.smtp is not None else None
    answers = None
    if config.imap and config.approval.enabled and config.approval.folder not in ("", config.imap.folder):
        answers = build_mailbox(replace(config.imap, folder=config.approval.folder))
    return Services(mailbox=mailbox, publisher=publisher, reply_source=reply_source, sender=sender,
                    approval_mailbox=answers, networks=build_networks(config))
