"""Prometheus metrics: served on loopback only, scraped over real HTTP."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bridge.config.reader import Section
from bridge.config.sections import MetricsSettings
from bridge.config.services import parse_listen, read_metrics
from bridge.errors import ConfigError
from bridge.service.metrics import (
    Metrics,
    MetricsSink,
    NullMetrics,
    start_metrics,
)

pytest.importorskip("prometheus_client", reason="the optional 'metrics' extra is not installed")


@pytest.fixture
def served() -> Iterator[Metrics]:
    metrics = Metrics.start("127.0.0.1", 0, stages=("ingest", "publish"))
    yield metrics
    metrics.stop()


def scrape(metrics: Metrics) -> dict[str, float]:
    """Every sample line of http://127.0.0.1:PORT/metrics as {"name{labels}": value}."""
    url = f"http://127.0.0.1:{metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode("utf-8")
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_counters_and_gauges_are_served_with_the_reported_values(served: Metrics) -> None:
    served.ingested(5)
    served.ingested(2)
    served.problems(1)
    served.published("x")
    served.set_posts_held(3)
    served.replies_fetched("x", 4)
    served.set_replies_held(2)
    served.set_replies_held(1)
    served.relays_sent(2)
    served.relay_failed()
    m = scrape(served)
    assert m["listserv_bridge_messages_ingested_total"] == 7
    assert m["listserv_bridge_problems_total"] == 1
    assert m['listserv_bridge_posts_published_total{network="x"}'] == 1
    assert m["listserv_bridge_posts_held"] == 3
    assert m['listserv_bridge_replies_fetched_total{network="x"}'] == 4
    assert m["listserv_bridge_replies_held"] == 1  # a gauge: the latest value, not a sum
    assert m["listserv_bridge_relays_sent_total"] == 2
    assert m["listserv_bridge_relay_failures_total"] == 1


def test_stage_errors_exist_at_zero_and_count_per_stage(served: Metrics) -> None:
    m = scrape(served)
    assert m['listserv_bridge_stage_errors_total{stage="ingest"}'] == 0
    assert m['listserv_bridge_stage_errors_total{stage="publish"}'] == 0
    served.stage_failed("publish")
    served.stage_failed("publish")
    served.stage_failed("relay")
    m = scrape(served)
    assert m['listserv_bridge_stage_errors_total{stage="publish"}'] == 2
    assert m['listserv_bridge_stage_errors_total{stage="relay"}'] == 1
    assert m['listserv_bridge_stage_errors_total{stage="ingest"}'] == 0


PER_NETWORK = ("posts_published", "replies_fetched", "replies_relayed", "network_errors",
               "rate_limit_waits")


def test_per_network_series_exist_at_zero_for_each_configured_network_and_count_apart() -> None:
    networks = ("x", "bluesky", "mastodon")
    metrics = Metrics.start("127.0.0.1", 0, networks=networks)

    def per_network() -> dict[tuple[str, str], float]:
        m = scrape(metrics)
        return {(name, net): m[f'listserv_bridge_{name}_total{{network="{net}"}}']
                for name in PER_NETWORK for net in networks}

    try:
        assert set(per_network().values()) == {0}
        metrics.published("mastodon", 2)
        metrics.replies_fetched("bluesky", 3)
        metrics.replies_relayed("bluesky", 1)
        metrics.network_errors("x")
        metrics.rate_limited("mastodon")
        expected = {("posts_published", "mastodon"): 2, ("replies_fetched", "bluesky"): 3,
                    ("replies_relayed", "bluesky"): 1, ("network_errors", "x"): 1,
                    ("rate_limit_waits", "mastodon"): 1}
        assert {k: v for k, v in per_network().items() if v} == expected
    finally:
        metrics.stop()


def test_a_network_added_by_a_reload_is_served_at_zero_before_its_first_post(served: Metrics) -> None:
    assert not any("bluesky" in name for name in scrape(served))
    served.networks_configured(["x", "bluesky"])  # what the daemon does after a SIGHUP reload
    m = scrape(served)
    for name in PER_NETWORK:
        assert m[f'listserv_bridge_{name}_total{{network="bluesky"}}'] == 0


def test_last_success_is_the_unix_time_of_the_stage(served: Metrics) -> None:
    served.stage_succeeded("ingest", datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    m = scrape(served)
    assert m['listserv_bridge_last_success_timestamp_seconds{stage="ingest"}'] == 1714564800


def test_cycle_durations_fill_the_histogram(served: Metrics) -> None:
    served.observe_cycle(0.3)
    served.observe_cycle(42.0)
    m = scrape(served)
    assert m["listserv_bridge_cycle_seconds_count"] == 2
    assert m["listserv_bridge_cycle_seconds_sum"] == pytest.approx(42.3)
    assert m['listserv_bridge_cycle_seconds_bucket{le="0.5"}'] == 1
    assert m['listserv_bridge_cycle_seconds_bucket{le="60.0"}'] == 2


def test_process_metrics_are_included(served: Metrics) -> None:
    assert scrape(served)["process_resident_memory_bytes"] > 0


def test_two_instances_keep_separate_registries() -> None:
    """No global registry: a restart inside one process (or a test) starts from zero."""
    first, second = Metrics.start("127.0.0.1", 0), Metrics.start("127.0.0.1", 0)
    try:
        first.ingested(3)
        assert scrape(second)["listserv_bridge_messages_ingested_total"] == 0
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_start_refuses_anything_but_loopback(host: str) -> None:
    with pytest.raises(ConfigError, match=r"metrics\.listen"):
        Metrics.start(host, 0)


def test_an_occupied_port_is_a_config_error(served: Metrics) -> None:
    with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
        Metrics.start("127.0.0.1", served.port or 0)


def test_missing_prometheus_client_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"listserv-bridge\[metrics\]"):
        start_metrics(MetricsSettings(enabled=True, port=0))


def test_disabled_metrics_are_null_and_open_no_port() -> None:
    sink: MetricsSink = start_metrics(MetricsSettings(enabled=False))
    assert isinstance(sink, NullMetrics)
    sink.ingested(1)
    sink.stage_succeeded("ingest", datetime.now(UTC))
    sink.stop()


def test_null_metrics_has_every_method_of_metrics() -> None:
    public = {n for n in dir(Metrics) if not n.startswith("_")} - {"start", "port", "registry"}
    assert public <= set(dir(NullMetrics))


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)),
    ("[::1]:9000", ("::1", 9000)),
    ("localhost:9464", ("127.0.0.1", 9464)),
    ("127.0.0.2:80", ("127.0.0.2", 80)),
])
def test_parse_listen_accepts_loopback_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["0.0.0.0:9464", "[::]:9464", "10.0.0.1:9464", "127.0.0.1",
                                  "127.0.0.1:0", "127.0.0.1:70000", "metrics.example:9464"])
def test_parse_listen_rejects_the_rest(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


def test_read_metrics_defaults_to_off_on_loopback() -> None:
    problems: list[str] = []
    assert read_metrics(Section({}, "metrics", problems)) == MetricsSettings(False, "127.0.0.1", 9464)
    assert problems == []


def test_read_metrics_reads_every_key() -> None:
    problems: list[str] = []
    settings = read_metrics(Section({"enabled": True, "listen": "[::1]:9100"}, "metrics", problems))
    assert settings == MetricsSettings(True, "::1", 9100)
    assert problems == []


def test_read_metrics_reports_a_public_address_and_unknown_keys() -> None:
    problems: list[str] = []
    read_metrics(Section({"enabled": True, "listen": "0.0.0.0:9464", "port": 1}, "metrics", problems))
    assert any(p.startswith("metrics.listen: 0.0.0.0 is not a loopback") for p in problems)
    assert "metrics.port: unknown key" in problems
