"""The one IngestPolicy builder: the daemon, `ingest` and `backtest` keep the same list, parse
the same bodies and recognise our own relays coming back through the list."""

from __future__ import annotations

from datetime import datetime

import structlog

from bridge.config.settings import Config
from bridge.mail.echo import EchoSettings
from bridge.stages.ingest import IngestPolicy
from bridge.stages.relay import echo_settings
from bridge.store.db import Store

log = structlog.get_logger()


def relay_echo(config: Config, store: Store, *, strict: bool = True) -> EchoSettings | None:
    """How our relays look (None without [relay]). The token key comes from the relay's secret
    or the store. Not `strict` (an admin command), an unreadable secret costs only the token
    sign: our From address and Message-ID pattern still recognise the echo."""
    if config.relay is None:
        return None
    try:
        return echo_settings(store, config.relay)
    except ValueError as exc:  # SecretError: the token secret cannot be read here
        if strict:
            raise
        log.warning("relay_token_unreadable", error=str(exc))
        return EchoSettings(config.relay.from_address, config.relay.id_domain, b"")


def build_ingest_policy(config: Config, echo: EchoSettings | None, *, body_since: datetime | None,
                        now: datetime | None = None) -> IngestPolicy:
    addresses = frozenset({config.list.address}) if config.list.address else frozenset()
    return IngestPolicy(body_since=body_since, list_id=config.list.list_id,
                        list_addresses=addresses, echo=echo, now=now)
