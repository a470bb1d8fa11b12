"""The bridge's configuration: one TOML file, validated as a whole (every problem listed at once).

Without a file, embedded defaults apply: enough to ingest and backtest a local archive.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from bridge.adapters.smtp import SmtpSettings, read_smtp
from bridge.adapters.x_account import XSettings, read_x
from bridge.compose.links import LinkSettings, check_url_template
from bridge.compose.post import ComposeSettings
from bridge.compose.relay_email import RelaySettings, read_relay
from bridge.config.approval import read_approval
from bridge.config.reader import Section
from bridge.config.secrets import SecretError, SecretRef
from bridge.decide import rules
from bridge.decide.approval import ApprovalSettings
from bridge.decide.caps import PublishSettings, read_publish
from bridge.decide.matcher import MatcherSettings, check_settings
from bridge.decide.moderation import ModerationSettings, read_moderation
from bridge.endpoints import plaintext_refused
from bridge.errors import ConfigError
from bridge.service.metrics import MetricsSettings, read_metrics
from bridge.stages.replies import ReplySettings, read_replies

T = TypeVar("T")
DEFAULT_DB_NAME = "bridge.sqlite3"
DEFAULT_LIST_NAME = "SLA Solo Librarians"


@dataclass(frozen=True, slots=True)
class ListConfig:
    name: str = DEFAULT_LIST_NAME
    address: str = ""  # the list's posting address; never used as our From
    list_id: str = ""  # only this List-Id is ingested when set


@dataclass(frozen=True, slots=True)
class StoreConfig:
    path: str = ""  # "" = $STATE_DIRECTORY/bridge.sqlite3, else ./bridge.sqlite3


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
class IngestConfig:
    subject_window: timedelta = timedelta(days=14)  # subject fallback reach for reference-less replies
    body_window: timedelta = timedelta(days=10)  # bodies are parsed for mail younger than this


@dataclass(frozen=True, slots=True)
class Config:
    list: ListConfig = field(default_factory=ListConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    imap: ImapConfig | None = None
    ingest: IngestConfig = field(default_factory=IngestConfig)
    matcher: MatcherSettings = field(default_factory=MatcherSettings)
    compose: ComposeSettings = field(default_factory=ComposeSettings)
    links: LinkSettings = field(default_factory=LinkSettings)
    x: XSettings | None = None
    publish: PublishSettings = field(default_factory=PublishSettings)
    replies: ReplySettings = field(default_factory=ReplySettings)
    moderation: ModerationSettings = field(default_factory=ModerationSettings)
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)  # [moderation] approval keys
    smtp: SmtpSettings | None = None
    relay: RelaySettings | None = None
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    source: str = "(embedded defaults)"

    def db_path(self, override: str | None = None) -> str:
        """The state database: --db, then [store] path, then $STATE_DIRECTORY, then ./."""
        if override:
            return override
        if self.store.path:
            return self.store.path
        state_dir = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        return str(Path(state_dir or ".") / DEFAULT_DB_NAME)


def _read_list(sec: Section) -> ListConfig:
    cfg = ListConfig(
        name=sec.string("name", DEFAULT_LIST_NAME),
        address=sec.string("address").lower(),
        list_id=sec.string("list_id"),
    )
    if cfg.address and "@" not in cfg.address:
        sec.problems.append(f"{sec.key('address')}: not an email address")
    sec.finish()
    return cfg


def _read_imap(sec: Section) -> ImapConfig | None:
    if not sec.present:
        return None
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


def _read_ingest(sec: Section) -> IngestConfig:
    cfg = IngestConfig(
        subject_window=sec.duration("subject_window", "14d"),
        body_window=sec.duration("body_window", "10d"),
    )
    sec.finish()
    return cfg


def _read_pattern_table(sec: Section, name: str, default: rules.PatternTable) -> rules.PatternTable:
    """A {category = [patterns]} table; given, it replaces the default table whole."""
    sec.used.add(name)
    value = sec.data.get(name)
    if value is None:
        return default
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in value.values()
    ):
        sec.problems.append(f"{sec.key(name)}: expected a table of category = [patterns]")
        return default
    return tuple((str(k), tuple(v)) for k, v in value.items())


def _read_matcher(sec: Section) -> MatcherSettings:
    d = MatcherSettings()
    cfg = MatcherSettings(
        unanswered_after=sec.duration("unanswered_after", "48h"),
        max_age=sec.duration("max_age", "7d"),
        business_days=sec.boolean("business_days", False),
        opt_out_tags=sec.strings("opt_out_tags", d.opt_out_tags),
        opt_in_only=sec.boolean("opt_in_only", False),
        opt_in_tags=sec.strings("opt_in_tags", d.opt_in_tags),
        opt_out_senders=frozenset(s.lower() for s in sec.strings("opt_out_senders")),
        not_request_subject=_read_pattern_table(sec, "not_request_subject", d.not_request_subject),
        not_request_body=_read_pattern_table(sec, "not_request_body", d.not_request_body),
        request_evidence=sec.strings("request_evidence", d.request_evidence),
        closing_tags=sec.strings("closing_tags", d.closing_tags),
        closing_body=sec.strings("closing_body", d.closing_body),
        content_free=sec.strings("content_free", d.content_free),
        min_answer_chars=sec.integer("min_answer_chars", d.min_answer_chars, 0, 10_000),
    )
    sec.problems.extend(f"{sec.path}: {p}" for p in check_settings(cfg))
    sec.finish()
    return cfg


def _read_compose(sec: Section) -> ComposeSettings:
    cfg = ComposeSettings(
        hashtags=sec.strings("hashtags", ComposeSettings.hashtags),
        template_dir=sec.string("template_dir") or None,
    )
    for tag in cfg.hashtags:
        if not tag.startswith("#") or len(tag) < 2 or any(c.isspace() for c in tag):
            sec.problems.append(f"{sec.key('hashtags')}: {tag!r} is not a hashtag")
    if cfg.template_dir and not Path(cfg.template_dir, "post.txt.j2").is_file():
        sec.problems.append(f"{sec.key('template_dir')}: no post.txt.j2 in {cfg.template_dir}")
    sec.finish()
    return cfg


def _read_links(sec: Section) -> LinkSettings:
    cfg = LinkSettings(
        strategy=sec.string(  # type: ignore[arg-type]
            "strategy", "auto", ("auto", "archived_at", "google_groups", "template")
        ),
        url_template=sec.string("url_template") or None,
        google_group=sec.string("google_group") or None,
        archive_private=sec.boolean("archive_private", False),
    )
    if cfg.url_template:
        sec.problems.extend(f"{sec.key('url_template')}: {p}" for p in check_url_template(cfg.url_template))
    elif cfg.strategy == "template":
        sec.problems.append(f"{sec.key('url_template')}: required with strategy = \"template\"")
    sec.finish()
    return cfg


def _optional(sec: Section, reader: Callable[[Section], T]) -> T | None:
    """Sections for outside services exist only when configured (ingest/backtest need none)."""
    return reader(sec) if sec.present else None


def parse_config(data: dict[str, object], source: str) -> Config:
    """Validate a decoded TOML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    root = Section(data, "", problems)
    root.path = ""
    names = ("list", "store", "imap", "ingest", "matcher", "post", "links", "x", "publish",
             "replies", "moderation", "smtp", "relay", "metrics")
    sections = {name: root.sub(name) for name in names}
    for sec in sections.values():
        sec.path = sec.path.lstrip(".")
    store = StoreConfig(path=sections["store"].string("path"))
    approval = read_approval(sections["moderation"])  # before read_moderation reports unread keys
    sections["store"].finish()
    config = Config(
        list=_read_list(sections["list"]),
        store=store,
        imap=_read_imap(sections["imap"]),
        ingest=_read_ingest(sections["ingest"]),
        matcher=_read_matcher(sections["matcher"]),
        compose=_read_compose(sections["post"]),
        links=_read_links(sections["links"]),
        x=_optional(sections["x"], read_x),
        publish=read_publish(sections["publish"]),
        replies=read_replies(sections["replies"]),
        moderation=read_moderation(sections["moderation"]),
        approval=approval,
        smtp=_optional(sections["smtp"], read_smtp),
        relay=_optional(sections["relay"], read_relay),
        metrics=read_metrics(sections["metrics"]),
        source=source,
    )
    if config.ingest.body_window < config.matcher.max_age:
        problems.append("ingest.body_window: must be at least matcher.max_age, or due questions have no text")
    problems.extend(_check_approval(config))
    for name in sorted(set(data) - root.used):
        problems.append(f"{name}: unknown section or key")
    problems.extend(_check_secrets(config))
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return config


def _check_approval(config: Config) -> list[str]:
    """Approval by email sends with [smtp] from the [relay] address and reads answers over IMAP."""
    if not config.approval.enabled:
        return []
    missing = [name for name, value in (("imap", config.imap), ("smtp", config.smtp),
                                        ("relay", config.relay)) if value is None]
    if missing:
        return [f"moderation.moderators: approval by email needs the {', '.join(missing)} "
                "section(s) (answers are read over IMAP; requests go out by SMTP from "
                "relay.from_address)"]
    if config.relay is not None and config.relay.list_address in config.approval.moderators:
        return ["moderation.moderators: the list's address cannot be a moderator"]
    return []


def secret_refs(config: Config) -> list[tuple[str, SecretRef | None]]:
    """Every secret reference in the config, with its key path."""
    refs: list[tuple[str, SecretRef | None]] = []
    if config.imap:
        refs += [("imap.password", config.imap.password), ("imap.oauth2_token", config.imap.oauth2_token)]
    if config.x:
        refs += [(f"x.{name}", getattr(config.x, name)) for name in (
            "consumer_key", "consumer_secret", "access_token", "access_token_secret",
            "oauth2_user_token")]
    if config.smtp:
        refs.append(("smtp.password", config.smtp.password))
    if config.relay:
        refs.append(("relay.token_secret", config.relay.token_secret))
    return refs


def _check_secrets(config: Config) -> list[str]:
    """Resolve each secret once at start, so a missing file is reported before any work."""
    refs = secret_refs(config)
    problems = []
    for key, ref in refs:
        if ref is None or ref.kind == "command":
            continue  # commands mint short-lived tokens: run them at connect time only
        try:
            ref.resolve()
        except SecretError as exc:
            problems.append(f"{key}: {exc}")
    return problems


def load_config(path: str | None) -> Config:
    """Read and validate the config file; None means embedded defaults."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_config(data, path)
