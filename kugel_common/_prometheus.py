"""``/dependencies`` in Prometheus text: the same snapshot, read at scrape time, so no counter is
kept twice.

Names follow the OpenTelemetry conventions as its Prometheus exporter writes them (dots become
underscores, the unit becomes a suffix, counters end in ``_total``): kugel's service name is
``kugel_service``, its endpoint template ``url_template``, an outcome ``error_type``.

``http_client_request_duration_seconds`` is a summary, not a histogram: kugel keeps the last
calls' durations per endpoint (``LATENCY_SAMPLES``), so the quantiles are over those, while
``_count`` and ``_sum`` cover every call. One observation is one logical call, retries and
backoff included, not one HTTP attempt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ._breaker import BreakerState
from ._metric_catalog import ENDPOINT_COUNTERS, OUTBOX_COUNTS, RELAY_STATES, prometheus_name

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_QUANTILES = (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))


def render(snapshot: Mapping[str, Any]) -> bytes:
    """The ``/dependencies`` body (``services``, ``outbox``, ``consumer``) in text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(snapshot))
    return generate_latest(registry)


class _Snapshot:
    """A custom collector over one snapshot, taken by the caller (the outbox's is async)."""

    def __init__(self, snapshot: Mapping[str, Any]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from _services(self._snapshot["services"])
        yield from _outbox(self._snapshot["outbox"])
        yield from _consumer(self._snapshot["consumer"])


def _services(services: Mapping[str, Any]) -> Iterator[Metric]:
    endpoint_labels = ["kugel_service", "url_template"]
    duration = Metric("http_client_request_duration_seconds",
                      "Duration of kugel's client calls, retries included.", "summary")
    counters = [(CounterMetricFamily(prometheus_name(name), text, labels=endpoint_labels), key)
                for name, key, text in ENDPOINT_COUNTERS]
    failures = CounterMetricFamily("kugel_client_call_failures", "Calls that failed, by cause.",
                                   labels=[*endpoint_labels, "error_type"])
    state = GaugeMetricFamily("kugel_breaker_state", "1 for the breaker's current state.",
                              labels=["kugel_service", "state"])
    transitions = CounterMetricFamily("kugel_breaker_transitions",
                                      "Breaker changes, by the state entered.",
                                      labels=["kugel_service", "state"])
    connections = CounterMetricFamily("kugel_client_connections_opened",
                                      "TCP connections opened.", labels=["kugel_service"])
    for service, seen in services.items():
        for template, endpoint in seen["endpoints"].items():
            labels = {"kugel_service": service, "url_template": template}
            for family, key in counters:
                family.add_metric(list(labels.values()), endpoint[key])
            for error_type, count in endpoint["failures"].items():
                failures.add_metric([service, template, error_type], count)
            _observations(duration, labels, endpoint)
        for name in BreakerState:
            state.add_metric([service, name.value], float(seen["breaker"] == name.value))
            transitions.add_metric([service, name.value],
                                   seen["breaker_transitions"].get(name.value, 0))
        connections.add_metric([service], seen["connections_opened"])
    yield duration
    yield from (family for family, _ in counters)
    yield from (failures, state, transitions, connections)


def _observations(summary: Metric, labels: dict[str, str], endpoint: Mapping[str, Any]) -> None:
    for quantile, key in _QUANTILES:
        if endpoint[key] is not None:
            summary.add_sample(summary.name, {**labels, "quantile": quantile},
                               endpoint[key] / 1000)
    summary.add_sample(f"{summary.name}_count", labels, endpoint["timed"])
    summary.add_sample(f"{summary.name}_sum", labels, endpoint["time_sum_s"])


def _outbox(outbox: Mapping[str, Any]) -> Iterator[Metric]:
    relay = GaugeMetricFamily("kugel_outbox_relay_state", "1 for the relay's current state.",
                              labels=["state"])
    for name in RELAY_STATES:
        relay.add_metric([name], float(outbox["relay"] == name))
    yield relay
    yield CounterMetricFamily("kugel_outbox_relay_restarts", "Relay restarts after a failure.",
                              value=outbox["restarts"])
    readable = "store_error" not in outbox
    yield GaugeMetricFamily("kugel_outbox_store_readable",
                            "0 when the outbox store could not be read for this scrape.",
                            value=float(readable))
    if not readable:
        return
    for status, text in OUTBOX_COUNTS:
        yield GaugeMetricFamily(f"kugel_outbox_{status}", text, value=outbox[status])
    oldest = outbox["oldest_waiting_seconds"]
    yield GaugeMetricFamily("kugel_outbox_oldest_waiting_age_seconds",
                            "Age of the oldest held or pending event; 0 when none waits.",
                            value=0.0 if oldest is None else oldest)


def _consumer(consumer: Mapping[str, Any]) -> Iterator[Metric]:
    yield CounterMetricFamily("kugel_consumer_applied", "Events the idempotent consumer applied.",
                              value=consumer["applied"])
    yield CounterMetricFamily("kugel_consumer_duplicates",
                              "Redelivered events the idempotent consumer skipped.",
                              value=consumer["duplicates"])
