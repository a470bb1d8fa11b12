"""Optional Prometheus metrics, served on a loopback address only.

prometheus_client is an optional extra (`pip install 'listserv-bridge[metrics]'`), imported only
when [metrics] enabled = true. The daemon talks to a MetricsSink: Metrics when enabled,
NullMetrics (same methods, does nothing) otherwise, so no call site needs an `if`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bridge.config.sections import MetricsSettings
from bridge.endpoints import check_loopback
from bridge.errors import ConfigError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

PREFIX = "listserv_bridge"
# Cycle durations: a quiet cycle takes well under a second, a backlog or a slow server minutes.
CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
INSTALL_HINT = "pip install 'listserv-bridge[metrics]' (or: pip install prometheus_client)"


class MetricsSink(Protocol):
    """What the daemon reports; counts are the number of new items since the last call."""

    def ingested(self, count: int) -> None: ...
    def problems(self, count: int) -> None: ...
    def published(self, network: str, count: int = 1) -> None: ...
    def set_posts_held(self, count: int) -> None: ...
    def replies_fetched(self, network: str, count: int) -> None: ...
    def replies_relayed(self, network: str, count: int) -> None: ...
    def network_errors(self, network: str, count: int = 1) -> None: ...
    def rate_limited(self, network: str, count: int = 1) -> None: ...
    def networks_configured(self, networks: Sequence[str]) -> None: ...
    def set_replies_held(self, count: int) -> None: ...
    def relays_sent(self, count: int = 1) -> None: ...
    def relay_failed(self, count: int = 1) -> None: ...
    def observe_cycle(self, seconds: float) -> None: ...
    def stage_succeeded(self, stage: str, now: datetime) -> None: ...
    def stage_failed(self, stage: str) -> None: ...
    def stop(self) -> None: ...


class NullMetrics:
    """Metrics switched off: every report is dropped."""

    def ingested(self, count: int) -> None:
        pass

    def problems(self, count: int) -> None:
        pass

    def published(self, network: str, count: int = 1) -> None:
        pass

    def set_posts_held(self, count: int) -> None:
        pass

    def replies_fetched(self, network: str, count: int) -> None:
        pass

    def replies_relayed(self, network: str, count: int) -> None:
        pass

    def network_errors(self, network: str, count: int = 1) -> None:
        pass

    def rate_limited(self, network: str, count: int = 1) -> None:
        pass

    def networks_configured(self, networks: Sequence[str]) -> None:
        pass

    def set_replies_held(self, count: int) -> None:
        pass

    def relays_sent(self, count: int = 1) -> None:
        pass

    def relay_failed(self, count: int = 1) -> None:
        pass

    def observe_cycle(self, seconds: float) -> None:
        pass

    def stage_succeeded(self, stage: str, now: datetime) -> None:
        pass

    def stage_failed(self, stage: str) -> None:
        pass

    def stop(self) -> None:
        pass


def _client() -> Any:
    try:  # by name: mypy and the core install need not have the optional package
        return importlib.import_module("prometheus_client")
    except ImportError:
        raise ConfigError([f"metrics.enabled: needs the prometheus_client package: {INSTALL_HINT}"]) \
            from None


class Metrics:
    """Prometheus metrics in a registry of their own, served over HTTP once start() is called."""

    def __init__(self, stages: Sequence[str] = (), networks: Sequence[str] = ()) -> None:
        pc = _client()
        self.registry = reg = pc.CollectorRegistry()
        pc.ProcessCollector(registry=reg)  # memory, CPU, open files, start time

        def counter(name: str, doc: str, labels: Sequence[str] = ()) -> Any:
            return pc.Counter(name, doc, labels, namespace=PREFIX, registry=reg)

        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Any:
            return pc.Gauge(name, doc, labels, namespace=PREFIX, registry=reg)

        self._ingested = counter("messages_ingested", "List messages stored.")
        self._problems = counter("problems", "Messages recorded as problems (unparsable, oversized).")
        self._published = counter("posts_published", "Posts confirmed on each network (sent, or "
                                  "found there after a doubt).", ["network"])
        self._posts_held = gauge("posts_held", "Posts held for the admin (`release`).")
        self._fetched = counter("replies_fetched", "Replies read from each network and stored.",
                                ["network"])
        self._relayed = counter("replies_relayed", "Replies from each network carried to the list "
                                "by relay emails the SMTP server accepted.", ["network"])
        self._network_errors = counter("network_errors", "Calls to each network that failed or "
                                       "were refused (429s not included).", ["network"])
        self._rate_limited = counter("rate_limit_waits", "429s from each network: its reset "
                                     "header scheduled the next attempt.", ["network"])
        self._replies_held = gauge("replies_held", "Replies held for moderation (`moderate`).")
        self._relays = counter("relays_sent", "Relay emails accepted by the SMTP server.")
        self._relay_failures = counter("relay_failures", "Relay emails that failed to send.")
        self._cycle = pc.Histogram("cycle_seconds", "Duration of one daemon cycle.",
                                   namespace=PREFIX, registry=reg, buckets=CYCLE_BUCKETS)
        self._last_success = gauge("last_success_timestamp_seconds",
                                   "When each stage last completed (Unix time).", ["stage"])
        self._stage_errors = counter("stage_errors", "Failed runs of each stage.", ["stage"])
        for stage in stages:  # present (as 0) before the first error, so rate() works at once
            self._stage_errors.labels(stage=stage)
        self._per_network = (self._published, self._fetched, self._relayed, self._network_errors,
                             self._rate_limited)
        self.networks_configured(networks)
        self._server: WSGIServer | None = None

    @classmethod
    def start(cls, host: str, port: int, stages: Sequence[str] = (),
              networks: Sequence[str] = ()) -> Metrics:
        """Metrics served at http://HOST:PORT/metrics; port 0 picks a free port (see .port)."""
        try:
            check_loopback(host)
        except ValueError as exc:
            raise ConfigError([f"metrics.listen: {exc}"]) from None
        metrics = cls(stages, networks)
        try:
            server, _thread = _client().start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            raise ConfigError([f"metrics.listen: cannot listen on {host}:{port}: {exc.strerror}"]) \
                from None
        metrics._server = server
        return metrics

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ingested(self, count: int) -> None:
        self._ingested.inc(count)

    def problems(self, count: int) -> None:
        self._problems.inc(count)

    def networks_configured(self, networks: Sequence[str]) -> None:
        """Each network's series present (as 0) from now on: at start, and when a SIGHUP reload
        adds a network, so rate() works before its first post."""
        for network in networks:
            for series in self._per_network:
                series.labels(network=network)

    def published(self, network: str, count: int = 1) -> None:
        self._published.labels(network=network).inc(count)

    def set_posts_held(self, count: int) -> None:
        self._posts_held.set(count)

    def replies_fetched(self, network: str, count: int) -> None:
        self._fetched.labels(network=network).inc(count)

    def replies_relayed(self, network: str, count: int) -> None:
        self._relayed.labels(network=network).inc(count)

    def network_errors(self, network: str, count: int = 1) -> None:
        self._network_errors.labels(network=network).inc(count)

    def rate_limited(self, network: str, count: int = 1) -> None:
        self._rate_limited.labels(network=network).inc(count)

    def set_replies_held(self, count: int) -> None:
        self._replies_held.set(count)

    def relays_sent(self, count: int = 1) -> None:
        self._relays.inc(count)

    def relay_failed(self, count: int = 1) -> None:
        self._relay_failures.inc(count)

    def observe_cycle(self, seconds: float) -> None:
        self._cycle.observe(seconds)

    def stage_succeeded(self, stage: str, now: datetime) -> None:
        self._last_success.labels(stage=stage).set(now.timestamp())

    def stage_failed(self, stage: str) -> None:
        self._stage_errors.labels(stage=stage).inc()


def start_metrics(settings: MetricsSettings, stages: Sequence[str] = (),
                  networks: Sequence[str] = ()) -> MetricsSink:
    """What the daemon reports to: a served Metrics when enabled, else NullMetrics; the
    per-network series of `networks` exist (as 0) from the start."""
    if not settings.enabled:
        return NullMetrics()
    return Metrics.start(settings.host, settings.port, stages, networks)
