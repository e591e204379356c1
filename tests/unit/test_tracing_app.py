"""Incoming requests continue the caller's trace, and the calls they make are its children."""

from __future__ import annotations

from typing import Any

import httpx
from dependency_injector import providers
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kugel_common import ServiceClientPool, ServiceRegistry
from kugel_common.container import KugelContainer
from kugel_common.fastapi import AppSettings, create_app
from kugel_common.fastapi._tracing import TracingMiddleware

from .otel import spans

__all__ = ["spans"]

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CALLER_SPAN = 0x00F067AA0BA902B7
INCOMING = {"traceparent": f"00-{TRACE_ID:032x}-{CALLER_SPAN:016x}-01"}


def upstream_pool() -> ServiceClientPool:
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test")
    mock = httpx.MockTransport(lambda request: httpx.Response(
        200, json={"traceparent": request.headers.get("traceparent")}))
    return ServiceClientPool(registry=registry, transport=lambda _n, _s: mock)


async def get_once(pool: ServiceClientPool, router: APIRouter, path: str,
                   headers: dict[str, str], **app_kwargs: Any) -> httpx.Response:
    """One GET to an app built by create_app with these routes, upstream pool and FastAPI
    arguments."""
    container = KugelContainer()
    container.app_settings.override(providers.Object(AppSettings()))
    container.http_client.override(providers.Object(pool))
    app = create_app(container, [router], **app_kwargs)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_an_app_continues_the_callers_trace_into_its_own_calls(
    spans: InMemorySpanExporter,
) -> None:
    pool = upstream_pool()
    router = APIRouter()

    @router.get("/items/{code}")
    async def item(code: str) -> object:
        return await pool.client("svc").get("/items/{code}", path_params={"code": code})

    reply = await get_once(pool, router, "/items/a1", INCOMING)
    assert reply.status_code == 200

    finished = spans.get_finished_spans()
    server = next(s for s in finished if s.kind is SpanKind.SERVER)
    assert server.name == "GET /items/{code}"
    assert server.context.trace_id == TRACE_ID
    assert server.parent is not None and server.parent.span_id == CALLER_SPAN
    call = next(s for s in finished if s.kind is SpanKind.CLIENT and s.parent is not None
                and s.parent.span_id != s.context.span_id
                and (s.attributes or {}).get("url.template") == "/items/{code}")
    ancestors = {s.context.span_id: s.parent.span_id for s in finished if s.parent}
    span_id = call.context.span_id
    while span_id in ancestors and span_id != server.context.span_id:  # bounded: a finite tree
        span_id = ancestors[span_id]
    assert span_id == server.context.span_id  # the call is beneath the request's span
    assert {s.context.trace_id for s in finished} == {TRACE_ID}
    assert reply.json()["traceparent"].split("-")[1] == f"{TRACE_ID:032x}"


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({})


async def boom(request: Request) -> JSONResponse:
    return JSONResponse({}, 503)


async def test_kugels_middleware_opens_one_server_span_named_by_route(
    spans: InMemorySpanExporter,
) -> None:
    """The middleware create_app installs on a FastAPI without native tracing."""
    app = TracingMiddleware(Starlette(routes=[Route("/items/{code}", ok),
                                              Route("/down", boom)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://test") as client:
        assert (await client.get("/items/a1", headers=INCOMING)).status_code == 200
        assert (await client.get("/down")).status_code == 503
        assert (await client.get("/nowhere")).status_code == 404
    item, down, nowhere = spans.get_finished_spans()
    assert (item.name, item.kind, item.context.trace_id) == (
        "GET /items/{code}", SpanKind.SERVER, TRACE_ID)
    assert item.parent is not None and item.parent.span_id == CALLER_SPAN
    assert dict(item.attributes or {}) == {
        "http.request.method": "GET", "url.path": "/items/a1", "url.scheme": "http",
        "server.address": "test", "client.address": "127.0.0.1",
        "http.route": "/items/{code}", "http.response.status_code": 200}
    assert down.parent is None  # no traceparent sent: a new trace
    assert ((down.attributes or {})["error.type"], down.status.status_code) == (
        "503", StatusCode.ERROR)
    assert nowhere.name == "GET"  # no route matched: the method alone, never the raw path
    assert nowhere.status.status_code is StatusCode.UNSET  # a 404 is the client's, not ours
