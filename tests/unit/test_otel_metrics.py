"""OpenTelemetry metrics: the same numbers as ``/dependencies`` and ``/metrics``, from the same
counters (docs/operations.md, "Metrics")."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    InMemoryMetricReader,
    Sum,
)
from pytest_httpx import HTTPXMock

from kugel_common import ServiceClientPool, ServiceUnavailableError
from kugel_common.dapr import DaprClientHelper

from .otel import meter_reader
from .sidecar import Switchable
from .test_metrics_endpoint import KEY, after_a_known_run, check_the_known_run, expected

__all__ = ["meter_reader"]

Samples = dict[tuple[str, tuple[tuple[str, Any], ...]], float]
LABELS = {"kugel.service": "kugel_service", "url.template": "url_template",
          "error.type": "error_type", "state": "state"}
ENDPOINT = ("kugel.service", "url.template")  # what /dependencies keeps a duration by


def collected(reader: InMemoryMetricReader) -> tuple[Samples, list[dict[str, Any]]]:
    """The Prometheus samples OpenTelemetry's exporter would write for kugel's instruments
    (dots to underscores, ``_total`` on counters, the unit as a suffix, kugel's labels), and
    the duration histogram's points as they are."""
    data = reader.get_metrics_data()
    assert data is not None
    samples: Samples = {}
    points: list[dict[str, Any]] = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            if scope.scope.name != "kugel_common":  # FastAPI's own, on versions that have them
                continue
            for metric in scope.metrics:
                name = metric.name.replace(".", "_") + ("_seconds" if metric.unit == "s" else "")
                if isinstance(metric.data, Histogram):
                    for point in metric.data.data_points:
                        points.append({"attributes": dict(point.attributes or {}),
                                       "count": point.count, "sum": point.sum})
                        labels = tuple(sorted((LABELS[k], v) for k, v in (
                            point.attributes or {}).items() if k in ENDPOINT))
                        for suffix, value in (("_count", point.count), ("_sum", point.sum)):
                            key = (name + suffix, labels)
                            samples[key] = samples.get(key, 0) + value
                    continue
                assert isinstance(metric.data, Sum | Gauge)
                suffix = "_total" if isinstance(metric.data, Sum) else ""
                for point in metric.data.data_points:
                    labels = tuple(sorted((LABELS[k], v) for k, v in (
                        point.attributes or {}).items()))
                    samples[(name + suffix, labels)] = point.value
    return samples, points


async def test_otel_metrics_agree_with_dependencies(
    sidecar: Switchable, dapr: DaprClientHelper, meter_reader: InMemoryMetricReader
) -> None:
    async with after_a_known_run(sidecar, dapr) as client:
        seen = (await client.get("/dependencies", headers=KEY)).json()
        # The SDK's readers collect from their own thread, as here.
        samples, points = await asyncio.to_thread(collected, meter_reader)
    check_the_known_run(seen)

    age = samples.pop(("kugel_outbox_oldest_waiting_age_seconds", ()))
    assert seen["outbox"]["oldest_waiting_seconds"] <= age < seen["outbox"][
        "oldest_waiting_seconds"] + 5  # read a moment later
    # The test's sidecar client is a pool of its own, outside the app's /dependencies.
    points = [p for p in points if p["attributes"]["kugel.service"] in seen["services"]]
    samples = {key: value for key, value in samples.items()
               if dict(key[1]).get("kugel_service", "master-data") in seen["services"]}
    want = {key: value for key, value in expected(seen).items()
            if not any(label == "quantile" for label, _ in key[1])}  # a histogram: no quantiles
    assert samples == want
    server = {"http.request.method": "GET", "url.template": "/items/{code}",
              "server.address": "master-data.test", "server.port": 80,
              "kugel.service": "master-data"}
    by_status = {p["attributes"]["http.response.status_code"]: p for p in points}
    assert [(p["attributes"], p["count"]) for _, p in sorted(by_status.items())] == [
        ({**server, "http.response.status_code": 200}, 1),
        ({**server, "http.response.status_code": 503, "error.type": "503"}, 1)]


async def test_a_transport_error_is_the_duration_error_type(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, meter_reader: InMemoryMetricReader
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)
    with pytest.raises(ServiceUnavailableError):
        await pool.client("svc").post("/x", json={})
    _, points = collected(meter_reader)
    assert [(p["attributes"].get("error.type"), "http.response.status_code" in p["attributes"],
             p["count"]) for p in points] == [("ConnectError", False, 1)]


async def test_collecting_on_the_apps_loop_observes_nothing_rather_than_hang(
    sidecar: Switchable, dapr: DaprClientHelper, meter_reader: InMemoryMetricReader
) -> None:
    async with after_a_known_run(sidecar, dapr):
        samples, _ = collected(meter_reader)  # on the loop: the snapshot cannot be awaited
    assert not any(name.startswith("kugel_outbox") for name, _ in samples)
    assert ("http_client_request_duration_seconds_count",
            (("kugel_service", "master-data"), ("url_template", "/items/{code}"))) in samples
