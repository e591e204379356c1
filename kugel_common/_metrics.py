"""In-process metrics per service and endpoint template.

``metrics_snapshot()`` returns plain dicts, the seam for a Prometheus or OpenTelemetry exporter.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EndpointMetrics", "ServiceMetrics"]

LATENCY_SAMPLES = 2048


def _percentile(ordered: list[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass(slots=True)
class EndpointMetrics:
    requests: int = 0
    successes: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    budget_denials: int = 0
    breaker_rejections: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def snapshot(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        latency = (
            {
                f"p{p}_ms": round(_percentile(ordered, p / 100) * 1000, 3)
                for p in (50, 95, 99)
            }
            if ordered
            else {"p50_ms": None, "p95_ms": None, "p99_ms": None}
        )
        return {
            "requests": self.requests,
            "successes": self.successes,
            "failures": dict(self.failures),
            "retries": self.retries,
            "budget_denials": self.budget_denials,
            "breaker_rejections": self.breaker_rejections,
            **latency,
        }


@dataclass(slots=True)
class ServiceMetrics:
    endpoints: dict[str, EndpointMetrics] = field(default_factory=dict)
    connections_opened: int = 0
    breaker_transitions: Counter[str] = field(default_factory=Counter)

    def endpoint(self, template: str) -> EndpointMetrics:
        metrics = self.endpoints.get(template)
        if metrics is None:
            metrics = self.endpoints[template] = EndpointMetrics()
        return metrics

    def snapshot(self) -> dict[str, Any]:
        return {
            "connections_opened": self.connections_opened,
            "breaker_transitions": dict(self.breaker_transitions),
            "endpoints": {name: m.snapshot() for name, m in self.endpoints.items()},
        }

    def reset(self) -> None:
        self.endpoints.clear()
        self.connections_opened = 0
        self.breaker_transitions.clear()
