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

from bridge.compose.links import LinkSettings
from bridge.compose.post import ComposeSettings
from bridge.compose.relay_email import RelaySettings
from bridge.config import policy, services
from bridge.config.reader import Section
from bridge.config.secrets import SecretError, SecretRef
from bridge.config.sections import (
    OAUTH1_KEYS,
    BlueskySettings,
    ImapConfig,
    MastodonSettings,
    MetricsSettings,
    ReplySettings,
    SmtpSettings,
    XSettings,
)
from bridge.decide.approval import ApprovalSettings
from bridge.decide.caps import PublishSettings
from bridge.decide.matcher import MatcherSettings
from bridge.decide.moderation import ModerationSettings
from bridge.errors import ConfigError

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
    mastodon: MastodonSettings | None = None
    bluesky: BlueskySettings | None = None
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


def _read_ingest(sec: Section) -> IngestConfig:
    cfg = IngestConfig(
        subject_window=sec.duration("subject_window", "14d"),
        body_window=sec.duration("body_window", "10d"),
    )
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
    names = ("list", "store", "imap", "ingest", "matcher", "post", "links", "x", "mastodon",
             "bluesky", "publish", "replies", "moderation", "smtp", "relay", "metrics")
    sections = {name: root.sub(name) for name in names}
    for sec in sections.values():
        sec.path = sec.path.lstrip(".")
    store = StoreConfig(path=sections["store"].string("path"))
    approval = policy.read_approval(sections["moderation"])  # before read_moderation reports unread keys
    sections["store"].finish()
    config = Config(
        list=_read_list(sections["list"]),
        store=store,
        imap=_optional(sections["imap"], services.read_imap),
        ingest=_read_ingest(sections["ingest"]),
        matcher=policy.read_matcher(sections["matcher"]),
        compose=policy.read_compose(sections["post"]),
        links=policy.read_links(sections["links"]),
        x=_optional(sections["x"], services.read_x),
        mastodon=_optional(sections["mastodon"], services.read_mastodon),
        bluesky=_optional(sections["bluesky"], services.read_bluesky),
        publish=policy.read_publish(sections["publish"]),
        replies=policy.read_replies(sections["replies"]),
        moderation=policy.read_moderation(sections["moderation"]),
        approval=approval,
        smtp=_optional(sections["smtp"], services.read_smtp),
        relay=_optional(sections["relay"], policy.read_relay),
        metrics=services.read_metrics(sections["metrics"]),
        source=source,
    )
    if config.ingest.body_window < config.matcher.max_age:
        problems.append("ingest.body_window: must be at least matcher.max_age, or due questions have no text")
    problems.extend(_check_approval(config))
    for name in sorted(set(data) - root.used):
        problems.append(f"{name}: unknown section or key")
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
        refs += [(f"x.{name}", getattr(config.x, name)) for name in (*OAUTH1_KEYS, "oauth2_user_token")]
    if config.mastodon:
        refs.append(("mastodon.access_token", config.mastodon.access_token))
    if config.bluesky:
        refs.append(("bluesky.app_password", config.bluesky.app_password))
    if config.smtp:
        refs.append(("smtp.password", config.smtp.password))
    if config.relay:
        token = config.relay.token_secret  # typed as the pure layer's Secret; read here as a ref
        refs.append(("relay.token_secret", token if isinstance(token, SecretRef) else None))
    return refs


def check_secrets(config: Config, sections: tuple[str, ...] = ()) -> None:
    """Resolve the secrets a command is about to use (every one, or those of `sections`), so a
    missing file is reported with the others before any work; commands that need no secret
    (status, threads, moderate, ingest --mbox) never call this. Raises ConfigError."""
    problems = []
    for key, ref in secret_refs(config):
        if ref is None or ref.kind == "command":
            continue  # commands mint short-lived tokens: run them at connect time only
        if sections and key.partition(".")[0] not in sections:
            continue
        try:
            ref.resolve()
        except SecretError as exc:
            problems.append(f"{config.source}: {key}: {exc}")
    if problems:
        raise ConfigError(problems)


def load_config(path: str | None) -> Config:
    """Read and validate the config file; None means embedded defaults. Secrets are not read
    here: a command resolves those it uses (check_secrets, then the adapters)."""
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
