"""One trace from a publish through the local sidecar to a Subscriber handler over real
sockets: the CONSUMER span continues the publisher's trace, its parent the publishing span."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from kugel_common.dapr import CloudEvent, Subscriber
from kugel_common.dapr.sidecar import AppSpec, Component

from ..backends import Backend
from ..unit.otel import ancestor_ids, by_name, spans
from ..waiting import until
from .server import serve_here

__all__ = ["spans"]


async def test_a_delivered_event_continues_the_publishers_trace(
    spans: InMemorySpanExporter
) -> None:
    subscriber = Subscriber(environ={})
    app = FastAPI()
    app.include_router(subscriber.router)
    got: list[str] = []

    @subscriber.subscribe("pubsub", "sales")
    async def on_sale(event: CloudEvent[dict[str, int]]) -> None:
        got.append(event.id)

    async with serve_here(app) as url:
        sidecar = Backend().sidecar([AppSpec("pub"), AppSpec("sub", app_url=url)],
                                    [Component("pubsub", "pubsub.redis")])
        await sidecar.start()
        try:
            async with httpx.AsyncClient(base_url=sidecar.url("pub")) as http:
                with trace.get_tracer("test").start_as_current_span("sale") as sale:
                    headers: dict[str, str] = {}
                    propagate.inject(headers)
                    reply = await http.post("/v1.0/publish/pubsub/sales", json={"n": 1},
                                            headers=headers)
                assert reply.status_code == 204
                assert reply.headers["traceparent"] == headers["traceparent"]  # as daprd
            await until(lambda: bool(got) and "process sales" in by_name(spans))
        finally:
            await sidecar.stop()
    (consumer,) = by_name(spans)["process sales"]
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.context.trace_id == sale.get_span_context().trace_id
    # under the delivery request's spans, which continue the publishing span
    assert sale.get_span_context().span_id in ancestor_ids(consumer, spans)
