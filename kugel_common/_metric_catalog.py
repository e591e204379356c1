"""The metric names and help texts that ``/metrics`` (Prometheus) and the OpenTelemetry
instruments share: one table, so the two never drift apart. Names are written with dots, as
OpenTelemetry does; ``/metrics`` writes them with underscores, as OpenTelemetry's own
Prometheus exporter would.
"""

from __future__ import annotations

__all__ = ["ENDPOINT_COUNTERS", "OUTBOX_COUNTS", "RELAY_STATES", "prometheus_name"]

# Counters per endpoint template: (name, the snapshot's key, help).
ENDPOINT_COUNTERS = (
    ("kugel.client.calls", "requests", "Calls started, retries not counted."),
    ("kugel.client.call_successes", "successes", "Calls that ended below 400."),
    ("kugel.retries", "retries", "Retries made."),
    ("kugel.retry_budget.denials", "budget_denials", "Retries the retry budget refused."),
    ("kugel.breaker.rejections", "breaker_rejections", "Attempts failed fast by an open breaker."),
)
# The outbox's counts by status: (status, help).
OUTBOX_COUNTS = (
    ("held", "Events recorded with a state transaction whose outcome is not known yet."),
    ("pending", "Events waiting for the relay."),
    ("delivered", "Delivered events still kept."),
    ("parked", "Events refused for their own content, waiting for an operator."),
)
RELAY_STATES = ("stopped", "standby", "running", "restarting", "dead")


def prometheus_name(name: str) -> str:
    return name.replace(".", "_")
