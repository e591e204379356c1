"""In-process metrics per service and endpoint template.

``metrics_snapshot()`` returns plain dicts, the seam for a Prometheus or OpenTelemetry exporter.
Memory is bounded: a service keeps at most ``max_endpoints`` endpoint keys, and folds the rest
into one ``OVERFLOW`` key, so callers that pass raw URLs instead of templates cannot grow it.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OVERFLOW", "EndpointMetrics", "ServiceMetrics"]

logger = logging.getLogger("kugel_common.metrics")

LATENCY_SAMPLES = 2048
OVERFLOW = "<other endpoints>"


def _percentile(ordered: list[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def _latency(ordered: list[float]) -> dict[str, float | None]:
    if not ordered:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    return {f"p{p}_ms": round(_percentile(ordered, p / 100) * 1000, 3) for p in (50, 95, 99)}


@dataclass(slots=True)
class EndpointMetrics:
    template: str = ""  # the key it is kept under: OVERFLOW once the service has too many
    requests: int = 0
    successes: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    budget_denials: int = 0
    breaker_rejections: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    # Every call ever timed, beside the bounded samples: a Prometheus summary's _count and _sum.
    timed: int = 0
    time_sum: float = 0.0

    def observe(self, seconds: float) -> None:
        """One finished call's duration, retries and backoff included."""
        self.latencies.append(seconds)
        self.timed += 1
        self.time_sum += seconds

    def snapshot(self) -> dict[str, Any]:
        latency = _latency(sorted(self.latencies))
        return {
            "requests": self.requests,
            "successes": self.successes,
            "failures": dict(self.failures),
            "retries": self.retries,
            "budget_denials": self.budget_denials,
            "breaker_rejections": self.breaker_rejections,
            "timed": self.timed,
            "time_sum_s": self.time_sum,
            **latency,
        }


@dataclass(slots=True)
class ServiceMetrics:
    service: str = ""
    max_endpoints: int = 100
    endpoints: dict[str, EndpointMetrics] = field(default_factory=dict)
    connections_opened: int = 0
    breaker_transitions: Counter[str] = field(default_factory=Counter)

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's ``trace`` request extension (kugel's aiohttp transport reports the same
        event): counts the connections opened."""
        if event == "connection.connect_tcp.complete":
            self.connections_opened += 1

    def endpoint(self, template: str) -> EndpointMetrics:
        metrics = self.endpoints.get(template)
        if metrics is None:
            if len(self.endpoints) >= self.max_endpoints:
                return self._overflow()
            metrics = self.endpoints[template] = EndpointMetrics(template)
        return metrics

    def _overflow(self) -> EndpointMetrics:
        metrics = self.endpoints.get(OVERFLOW)
        if metrics is None:
            logger.warning(
                "%s: more than %d endpoint keys; the rest are counted as %r. Pass templates "
                "(\"/items/{code}\" with path_params), not filled-in URLs, or raise "
                "KUGEL_MAX_ENDPOINT_KEYS", self.service, self.max_endpoints, OVERFLOW)
            metrics = self.endpoints[OVERFLOW] = EndpointMetrics(OVERFLOW)
        return metrics

    def snapshot(self) -> dict[str, Any]:
        """Per endpoint template, and ``total`` over the whole service."""
        endpoints = self.endpoints.values()
        total = {
            "requests": sum(m.requests for m in endpoints),
            "retries": sum(m.retries for m in endpoints),
            "failures": sum(sum(m.failures.values()) for m in endpoints),
            **_latency(sorted(t for m in endpoints for t in m.latencies)),
        }
        return {
            "total": total,
            "connections_opened": self.connections_opened,
            "breaker_transitions": dict(self.breaker_transitions),
            "endpoints": {name: m.snapshot() for name, m in self.endpoints.items()},
        }

    def reset(self) -> None:
        self.endpoints.clear()
        self.connections_opened = 0
        self.breaker_transitions.clear()
