"""Spans per call and per attempt, and the trace context each attempt sends (docs/operations.md,
"Tracing")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pytest_httpx import HTTPXMock

from kugel_common import (
    CircuitOpenError,
    ClientSettings,
    ServiceClientPool,
    ServiceRegistry,
    ServiceUnavailableError,
)
from kugel_common.testing import FakeClock

from .otel import spans

__all__ = ["spans"]

ROOT = Path(__file__).resolve().parents[2]


def traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def attempts_and_call(exporter: InMemorySpanExporter) -> tuple[list[ReadableSpan], ReadableSpan]:
    *attempts, call = exporter.get_finished_spans()  # attempts end before their call
    return attempts, call


async def test_a_call_with_one_retry_has_a_span_and_one_child_per_attempt(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, spans: InMemorySpanExporter
) -> None:
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(json={"ok": True})
    assert await pool.client("svc").get("/items/{code}", path_params={"code": "a 1"}) == {
        "ok": True}

    attempts, call = attempts_and_call(spans)
    assert [s.name for s in (*attempts, call)] == ["GET /items/{code}"] * 3
    assert {s.kind for s in (*attempts, call)} == {SpanKind.CLIENT}
    assert call.parent is None
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id
               for a in attempts)
    assert {a.context.trace_id for a in attempts} == {call.context.trace_id}
    assert dict(call.attributes or {}) == {
        "http.request.method": "GET", "url.template": "/items/{code}", "kugel.service": "svc",
        "url.full": "http://svc.test/api/items/a%201", "server.address": "svc.test",
        "server.port": 80, "http.response.status_code": 200, "kugel.attempt": 2}
    assert call.status.status_code is StatusCode.UNSET
    first, second = (dict(a.attributes or {}) for a in attempts)
    assert (first["kugel.attempt"], first["http.response.status_code"], first["error.type"],
            first["kugel.breaker.state"]) == (1, 503, "503", "closed")
    assert "http.request.resend_count" not in first
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert (second["kugel.attempt"], second["http.request.resend_count"],
            second["kugel.retry.reason"], second["http.response.status_code"]) == (
        2, 1, "503", 200)
    assert "error.type" not in second

    sent = httpx_mock.get_requests()
    assert [r.headers["traceparent"] for r in sent] == [traceparent(a) for a in attempts]


async def test_a_failed_call_and_its_transport_error_are_errors(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, spans: InMemorySpanExporter
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)
    with pytest.raises(ServiceUnavailableError):
        await pool.client("svc").post("/sales", json={})  # not sent: retried, then failed
    attempts, call = attempts_and_call(spans)
    assert len(attempts) == 3
    assert {(a.attributes or {})["error.type"] for a in attempts} == {"ConnectError"}
    assert (attempts[2].attributes or {})["kugel.retry.reason"] == "ConnectError"
    assert (call.attributes or {})["error.type"] == "ServiceUnavailableError"
    assert call.status.status_code is StatusCode.ERROR


async def test_an_open_breaker_shows_on_the_call_and_the_refused_attempt(
    pool: ServiceClientPool, spans: InMemorySpanExporter
) -> None:
    await pool.isolate_breaker("svc")
    with pytest.raises(CircuitOpenError):
        await pool.client("svc").get("/x")
    attempts, call = attempts_and_call(spans)
    assert [(s.attributes or {})["kugel.breaker.state"] for s in (*attempts, call)] == [
        "isolated", "isolated"]
    assert [(s.attributes or {})["error.type"] for s in (*attempts, call)] == [
        "CircuitOpenError", "CircuitOpenError"]


async def test_a_retry_the_budget_denies_is_marked(
    registry: ServiceRegistry, clock: FakeClock, httpx_mock: HTTPXMock,
    spans: InMemorySpanExporter,
) -> None:
    settings = ClientSettings(retry_budget_ratio=0, retry_budget_min_per_second=0)
    httpx_mock.add_response(status_code=503)
    async with ServiceClientPool(registry=registry, settings=settings, clock=clock) as pool:
        with pytest.raises(ServiceUnavailableError):
            await pool.client("svc").get("/x")
    attempts, call = attempts_and_call(spans)
    assert len(attempts) == 1
    assert (call.attributes or {})["kugel.budget.denied"] is True
    assert (call.attributes or {})["http.response.status_code"] == 503


async def test_url_full_holds_no_query_and_no_span_holds_a_credential(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, spans: InMemorySpanExporter
) -> None:
    httpx_mock.add_response(json={})
    client = pool.client("svc", headers={"X-API-KEY": "hunter2"})
    await client.get("/x", params={"token": "s3cret"})
    sent = httpx_mock.get_requests()[0]
    assert (sent.url.params["token"], sent.headers["x-api-key"]) == ("s3cret", "hunter2")
    for span in spans.get_finished_spans():
        attributes = str(dict(span.attributes or {}))
        assert "hunter2" not in attributes and "s3cret" not in attributes
        assert (span.attributes or {})["url.full"] == "http://svc.test/api/x"


async def test_the_tracing_setting_turns_spans_and_headers_off(
    registry: ServiceRegistry, clock: FakeClock, httpx_mock: HTTPXMock,
    spans: InMemorySpanExporter,
) -> None:
    httpx_mock.add_response(json={})
    async with ServiceClientPool(registry=registry, settings=ClientSettings(tracing=False),
                                 clock=clock) as pool:
        await pool.client("svc").get("/x")
    assert spans.get_finished_spans() == ()
    assert "traceparent" not in httpx_mock.get_requests()[0].headers


async def test_without_an_sdk_no_trace_header_is_sent(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={})
    await pool.client("svc").get("/x")
    assert "traceparent" not in httpx_mock.get_requests()[0].headers


NOT_INSTALLED = """
import asyncio, sys
sys.modules["opentelemetry"] = None  # as if it were not installed: importing it fails
import httpx
from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry

sent = []

def server(request):
    sent.append(request)
    return httpx.Response(200, json={"ok": True})

async def main():
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test")
    mock = httpx.MockTransport(server)
    async with ServiceClientPool(registry=registry, settings=ClientSettings(),
                                 transport=lambda name, settings: mock) as pool:
        assert await pool.client("svc").get("/x") == {"ok": True}

asyncio.run(main())
print("traceparent" in sent[0].headers, sorted(m for m in sys.modules
                                              if m.startswith("opentelemetry.")))
"""


def test_without_opentelemetry_calls_work_untraced() -> None:
    result = subprocess.run([sys.executable, "-c", NOT_INSTALLED], capture_output=True,
                            text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False []"


def test_importing_kugel_does_not_import_opentelemetry() -> None:
    code = "import sys, kugel_common\nprint('opentelemetry' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


async def test_dapr_calls_carry_their_attempts_trace_context(
    spans: InMemorySpanExporter,
) -> None:
    from kugel_common.dapr import DaprClientHelper

    sent: list[httpx.Request] = []

    def sidecar(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    mock = httpx.MockTransport(sidecar)
    async with ServiceClientPool(transport=lambda _n, _s: mock) as pool:
        dapr = DaprClientHelper(pool, environ={})
        await dapr.publish_event("pubsub", "sales", {"n": 1})
        await dapr.save_state("statestore", "k", {"n": 1})
    attempts = [s for s in spans.get_finished_spans() if (s.attributes or {}).get("kugel.attempt")
                and s.parent is not None]
    services = {(s.attributes or {})["kugel.service"] for s in spans.get_finished_spans()}
    assert services == {"dapr:pubsub", "dapr:statestore"}
    assert [r.headers["traceparent"] for r in sent] == [traceparent(a) for a in attempts]
