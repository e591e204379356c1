"""``/metrics``: ``/dependencies`` in Prometheus text, number for number, behind its settings."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families

from kugel_common import (
    CircuitOpenError,
    ClientSettings,
    ServiceClientPool,
    ServiceRegistry,
    ServiceUnavailableError,
    set_testing,
)
from kugel_common.container import KugelContainer
from kugel_common.dapr import DaprClientHelper, Outbox, OutboxEvent, SqliteOutboxStore
from kugel_common.fastapi import AppSettings, create_app
from kugel_common.testing import FakeClock

from .sidecar import Switchable

KEY = {"X-API-KEY": "key"}
ITEM = "/items/{code}"


def container_for(**settings: Any) -> KugelContainer:
    container = KugelContainer()
    container.app_settings.override(providers.Object(
        AppSettings(api_keys={"key": "*"}, outbox_path=":memory:", **settings)))
    return container


@asynccontextmanager
async def serving(container: KugelContainer) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://test") as client:
        yield client


async def test_metrics_are_off_by_default() -> None:
    async with serving(container_for()) as client:
        assert (await client.get("/metrics", headers=KEY)).status_code == 404


@pytest.mark.parametrize(("open_", "anonymous"), [(False, 401), (True, 200)])
async def test_metrics_need_the_credential_unless_open(open_: bool, anonymous: int) -> None:
    container = container_for(metrics_enabled=True, metrics_open=open_)
    async with serving(container) as client:
        reply = await client.get("/metrics")
        assert reply.status_code == anonymous
        if anonymous == 401:
            assert reply.json()["error"]["code"] == "unauthorized"
        keyed = await client.get("/metrics", headers=KEY)
        assert keyed.status_code == 200
        assert keyed.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_metrics_without_the_extra_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "prometheus_client" else real(name, *a))
    with pytest.raises(ModuleNotFoundError) as missing:
        create_app(container_for(metrics_enabled=True))
    assert missing.value.name == "prometheus_client"
    assert "pip install 'kugel[metrics]'" in str(missing.value)


def flaky_master_data() -> ServiceClientPool:
    """master-data answers 503, then 200, then 503 for ever: a retry that works, one the retry
    budget refuses, a breaker that opens after two failures in a row, and a call it refuses."""
    statuses = [503, 200]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(statuses.pop(0) if statuses else 503, json={})

    registry = ServiceRegistry(environ={})
    registry.register("master-data", "http://master-data.test/api")
    settings = ClientSettings(attempts=3, retry_budget_ratio=1.0,
                              retry_budget_min_per_second=0.0, breaker_failure_threshold=2)
    return ServiceClientPool(registry=registry, settings=settings, clock=FakeClock(),
                             transport=lambda _n, _s: httpx.MockTransport(answer))


@asynccontextmanager
async def after_a_known_run(sidecar: Switchable, dapr: DaprClientHelper
                            ) -> AsyncIterator[httpx.AsyncClient]:
    """A served app after a retry, a 503, an open breaker, a parked, a delivered and a pending
    event, and a consumer duplicate (``check_the_known_run`` says so)."""
    container = container_for(metrics_enabled=True)
    container.http_client.override(providers.Object(flaky_master_data()))
    container.dapr.override(providers.Object(dapr))
    store = SqliteOutboxStore()
    await store.add([OutboxEvent(0, "nan", "pubsub", "t", {"x": float("nan")}),  # parked
                     OutboxEvent(0, "good", "pubsub", "t", {"x": 1})])
    container.outbox.override(providers.Singleton(Outbox, dapr, store))
    async with serving(container) as client:
        master_data = container.http_client().client("master-data")
        with set_testing(True):
            await master_data.get(ITEM, path_params={"code": "a"})
            with pytest.raises(ServiceUnavailableError):
                await master_data.get(ITEM, path_params={"code": "b"})
            with pytest.raises(CircuitOpenError):
                await master_data.get(ITEM, path_params={"code": "c"})
        consumer = container.idempotent_consumer()
        for _ in range(2):
            await consumer.apply("e1", "total", lambda value: (value or 0) + 1)
        outbox = container.outbox()
        await outbox.drain(timeout=5)
        sidecar.down = True
        await outbox.publish("pubsub", "t", {"x": 2})  # waits: the sidecar is down
        yield client


def check_the_known_run(seen: dict[str, Any]) -> None:
    endpoint = seen["services"]["master-data"]["endpoints"][ITEM]
    assert (endpoint["retries"], endpoint["budget_denials"], endpoint["breaker_rejections"],
            seen["services"]["master-data"]["breaker"]) == (2, 1, 1, "open")
    assert (seen["outbox"]["pending"], seen["outbox"]["parked"], seen["outbox"]["delivered"],
            seen["consumer"]) == (1, 1, 1, {"applied": 1, "duplicates": 1})


async def test_metrics_agree_with_dependencies(sidecar: Switchable,
                                               dapr: DaprClientHelper) -> None:
    async with after_a_known_run(sidecar, dapr) as client:
        seen = (await client.get("/dependencies", headers=KEY)).json()
        scraped = (await client.get("/metrics", headers=KEY)).text

    check_the_known_run(seen)
    samples = parse(scraped)
    age = samples.pop(("kugel_outbox_oldest_waiting_age_seconds", ()))
    assert seen["outbox"]["oldest_waiting_seconds"] <= age < seen["outbox"][
        "oldest_waiting_seconds"] + 5  # read a moment later
    assert samples == expected(seen)


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def expected(seen: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample ``/metrics`` should show, written out from ``/dependencies``."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def put(name: str, value: float, **labels: str) -> None:
        out[(name, tuple(sorted(labels.items())))] = value

    for service, dependency in seen["services"].items():
        for template, m in dependency["endpoints"].items():
            at = {"kugel_service": service, "url_template": template}
            for quantile, key in (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms")):
                put("http_client_request_duration_seconds", m[key] / 1000, quantile=quantile,
                    **at)
            put("http_client_request_duration_seconds_count", m["timed"], **at)
            put("http_client_request_duration_seconds_sum", m["time_sum_s"], **at)
            put("kugel_client_calls_total", m["requests"], **at)
            put("kugel_client_call_successes_total", m["successes"], **at)
            put("kugel_retries_total", m["retries"], **at)
            put("kugel_retry_budget_denials_total", m["budget_denials"], **at)
            put("kugel_breaker_rejections_total", m["breaker_rejections"], **at)
            for error_type, count in m["failures"].items():
                put("kugel_client_call_failures_total", count, error_type=error_type, **at)
        for state in ("closed", "open", "half_open", "isolated"):
            put("kugel_breaker_state", float(dependency["breaker"] == state),
                kugel_service=service, state=state)
            put("kugel_breaker_transitions_total",
                dependency["breaker_transitions"].get(state, 0), kugel_service=service,
                state=state)
        put("kugel_client_connections_opened_total", dependency["connections_opened"],
            kugel_service=service)
    outbox = seen["outbox"]
    for state in ("stopped", "standby", "running", "restarting", "dead"):
        put("kugel_outbox_relay_state", float(outbox["relay"] == state), state=state)
    put("kugel_outbox_relay_restarts_total", outbox["restarts"])
    put("kugel_outbox_store_readable", 1.0)
    for status in ("held", "pending", "delivered", "parked"):
        put(f"kugel_outbox_{status}", outbox[status])
    put("kugel_consumer_applied_total", seen["consumer"]["applied"])
    put("kugel_consumer_duplicates_total", seen["consumer"]["duplicates"])
    return out
