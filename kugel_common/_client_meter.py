"""``http.client.request.duration``, the OpenTelemetry HTTP client histogram, for kugel's calls.

It is recorded where ``/dependencies`` times a call (``EndpointMetrics.observe``), with the same
duration: one logical call, retries and backoff included, so its count and sum equal that
endpoint's ``timed`` and ``time_sum_s``. Attributes follow the HTTP semantic conventions
(``http.request.method``, ``server.address``, ``server.port``, ``http.response.status_code``,
``error.type``), with ``url.template`` (the key ``/dependencies`` uses, bounded the same way)
and ``kugel.service``.

The instrument comes from the global meter provider: a proxy until the application sets an SDK
provider, whose ``record`` is one test, so with no SDK a call pays for one small dict. Only
imported when opentelemetry-api is installed.
"""

from __future__ import annotations

import httpx
from opentelemetry import metrics

from ._client_spans import server_of
from ._outcome import status_and_error_type
from ._version import __version__

__all__ = ["DURATION_BUCKETS", "ClientMeter"]

# The conventions' advice for http.client.request.duration, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                    10.0)


class ClientMeter:
    """The duration histogram of one service's channel."""

    __slots__ = ("_histogram", "_servers", "service")

    def __init__(self, service: str) -> None:
        self.service = service
        meter = metrics.get_meter("kugel_common", __version__)
        self._histogram = meter.create_histogram(
            "http.client.request.duration", unit="s",
            description="Duration of kugel's client calls, retries and backoff included.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self._servers: dict[str, tuple[str, int]] = {}  # base URL -> address and port

    def record(self, seconds: float, method: str, template: str, base: str,
               outcome: httpx.Response | BaseException) -> None:
        """One finished call: its duration and final outcome, sent to the last base URL."""
        server = self._servers.get(base)
        if server is None:
            server = self._servers[base] = server_of(httpx.URL(base))
        attributes: dict[str, str | int] = {
            "http.request.method": method, "url.template": template,
            "server.address": server[0], "server.port": server[1],
            "kugel.service": self.service}
        status, error_type = status_and_error_type(outcome)
        if status is not None:
            attributes["http.response.status_code"] = status
        if error_type is not None:
            attributes["error.type"] = error_type
        self._histogram.record(seconds, attributes)
