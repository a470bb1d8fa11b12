"""The bridge's configuration: one TOML file, validated as a whole (every problem listed at once).

Without a file, embedded defaults apply: enough to ingest and backtest a local archive.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bridge.configread import Section
from bridge.errors import ConfigError
from bridge.imap import is_loopback
from bridge.secrets import SecretError, SecretRef

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
    if cfg.security == "plain" and not (cfg.allow_plaintext and is_loopback(cfg.host)):
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


def parse_config(data: dict[str, object], source: str) -> Config:
    """Validate a decoded TOML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    root = Section(data, "", problems)
    root.path = ""
    sections = {name: root.sub(name) for name in ("list", "store", "imap", "ingest")}
    for sec in sections.values():
        sec.path = sec.path.lstrip(".")
    store = StoreConfig(path=sections["store"].string("path"))
    sections["store"].finish()
    config = Config(
        list=_read_list(sections["list"]),
        store=store,
        imap=_read_imap(sections["imap"]),
        ingest=_read_ingest(sections["ingest"]),
        source=source,
    )
    for name in sorted(set(data) - root.used):
        problems.append(f"{name}: unknown section or key")
    problems.extend(_check_secrets(config))
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return config


def _check_secrets(config: Config) -> list[str]:
    """Resolve each secret once at start, so a missing file is reported before any work."""
    refs: list[tuple[str, SecretRef | None]] = []
    if config.imap:
        refs += [("imap.password", config.imap.password), ("imap.oauth2_token", config.imap.oauth2_token)]
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
