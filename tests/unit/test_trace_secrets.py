"""No secret reaches an exported span: not the query string, not a credential header, on
FastAPI's native SERVER span nor on kugel's own middleware (docs/operations.md, "Tracing")."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from kugel_common.fastapi import _tracing

from .otel import spans
from .test_tracing_app import get_once, upstream_pool

__all__ = ["spans"]

SECRETS = ("SECRETQTOKEN1", "SECRETQPW", "SECRETBEARER", "SECRETKEY", "SECRETCOOKIE",
           "SECRETDAPR", "SECRETOUT1")
HEADERS = {"Authorization": "Bearer SECRETBEARER", "X-API-KEY": "SECRETKEY",
           "Cookie": "session=SECRETCOOKIE", "dapr-api-token": "SECRETDAPR"}
QUERY = "?access_token=SECRETQTOKEN1&password=SECRETQPW&limit=5"


def exported(span: ReadableSpan) -> list[tuple[str, Any]]:
    """Everything an exporter sends of a span's own data: name, status, attributes, events'
    and links' attributes."""
    found: list[tuple[str, Any]] = [("name", span.name),
                                    ("status", span.status.description)]
    found += list((span.attributes or {}).items())
    for event in span.events:
        found += [("event", event.name), *(event.attributes or {}).items()]
    for link in span.links:
        found += list((link.attributes or {}).items())
    return found


@pytest.mark.parametrize("native", [True, False], ids=["fastapi-native", "kugel-middleware"])
async def test_no_span_carries_a_query_credential_or_a_secret_header(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch, native: bool,
) -> None:
    kwargs: dict[str, Any] = {}
    if not native:  # as create_app does on a FastAPI without native tracing
        monkeypatch.setattr(_tracing, "native_tracing", lambda: False)
        kwargs["telemetry"] = {"tracing": False}
    pool = upstream_pool()
    router = APIRouter()

    @router.get("/items/{code}")
    async def item(code: str) -> object:
        return await pool.client("svc").get("/items/{code}", path_params={"code": code},
                                            params={"api_key": "SECRETOUT1"})

    reply = await get_once(pool, router, "/items/tea" + QUERY, HEADERS, **kwargs)
    assert reply.status_code == 200

    finished = spans.get_finished_spans()
    (server,) = [s for s in finished if s.kind is SpanKind.SERVER]
    assert server.name == "GET /items/{code}"
    attributes = dict(server.attributes or {})
    assert (attributes["url.path"], attributes["url.query"]) == ("/items/tea", "[redacted]")
    assert any(s.kind is SpanKind.CLIENT for s in finished)
    for span in finished:
        for key, value in exported(span):
            assert not any(secret in str(value) for secret in SECRETS), (span.name, key)
            assert not any(header in key.lower() for header in
                           ("authorization", "api-key", "api_key", "cookie", "dapr-api-token"))


async def test_a_request_without_a_query_gets_no_url_query(
    spans: InMemorySpanExporter,
) -> None:
    router = APIRouter()

    @router.get("/plain")
    async def plain() -> object:
        return {}

    assert (await get_once(upstream_pool(), router, "/plain", {})).status_code == 200
    (server,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert "url.query" not in (server.attributes or {})
