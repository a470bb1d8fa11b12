"""Build the outside-world adapters from config (kept apart from the CLI's argument handling)."""

from __future__ import annotations

from dataclasses import replace

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.smtp import SmtpSender
from bridge.adapters.x_account import XPublisher
from bridge.adapters.x_client import XClient
from bridge.config.secrets import SecretError, SecretRef
from bridge.config.sections import OAUTH1_KEYS, ImapConfig, SmtpSettings, XSettings
from bridge.config.settings import Config
from bridge.errors import ConfigError
from bridge.service.pipeline import Services


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
                    approval_mailbox=answers)
