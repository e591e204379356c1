"""The trace context of an event: recorded with it in the outbox, restored by the relay after a
restart under a PRODUCER span, and continued by a Subscriber's CONSUMER span, whatever the event
carries (docs/operations.md, "Tracing")."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kugel_common.dapr import CloudEvent, DaprClientHelper, Outbox, RetryLater, Subscriber
from kugel_common.dapr.sidecar._events import Published

from .otel import ancestor_ids, by_name, parent_id, spans
from .test_tracing import traceparent

__all__ = ["spans"]




async def test_the_context_at_publish_survives_a_restart_into_the_cloud_event(
    dapr: DaprClientHelper, published: list[Published], tmp_path: Path,
    spans: InMemorySpanExporter
) -> None:
    path = tmp_path / "outbox.sqlite3"
    first = Outbox(dapr, path)  # never started: the process "crashed" before relaying
    with trace.get_tracer("test").start_as_current_span("POST /sales") as sale:
        event_id = await first.publish("pubsub", "sales", {"n": 1})
    first._store.close()
    stored = sqlite3.connect(path).execute("SELECT trace FROM outbox").fetchone()[0]
    assert json.loads(stored)["traceparent"] == traceparent(sale)

    async with Outbox(dapr, path) as second:
        await second.drain(timeout=5)

    found = by_name(spans)
    (producer,) = found["publish sales"]
    assert producer.kind is SpanKind.PRODUCER
    assert parent_id(producer) == sale.get_span_context().span_id
    assert producer.context.trace_id == sale.get_span_context().trace_id
    assert dict(producer.attributes or {}) == {
        "messaging.system": "dapr", "messaging.operation.type": "publish",
        "messaging.operation.name": "publish", "messaging.destination.name": "sales",
        "messaging.message.id": event_id, "kugel.pubsub": "pubsub", "kugel.attempt": 1,
        "kugel.outbox": str(path)}
    *attempts, call = found["POST /v1.0/publish/{pubsub}/{topic}"]
    assert parent_id(call) == producer.context.span_id
    (envelope,) = [p.body for p in published]
    # daprd's CloudEvent carries the publish request's context: the attempt span's
    assert envelope["traceparent"] == traceparent(attempts[0])
    assert attempts[0].context.trace_id == sale.get_span_context().trace_id


async def test_without_an_active_span_nothing_is_stored(
    dapr: DaprClientHelper, published: list[Published], spans: InMemorySpanExporter
) -> None:
    async with Outbox(dapr) as outbox:
        await outbox.publish("pubsub", "t", {"n": 1})
        await outbox.drain(timeout=5)
    (producer,) = by_name(spans)["publish t"]
    assert producer.parent is None  # a trace of its own


async def test_an_outbox_file_from_before_trace_contexts_is_read_and_upgraded(
    dapr: DaprClientHelper, published: list[Published], tmp_path: Path
) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE, pubsub TEXT NOT NULL, topic TEXT NOT NULL,
            data TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            strikes INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL DEFAULT 0, marker TEXT);
        INSERT INTO outbox (event_id, pubsub, topic, data, metadata, status)
            VALUES ('old-1', 'pubsub', 't', '{"n": 1}', '{}', 'pending');""")
    old.close()
    async with Outbox(dapr, path) as outbox:
        await outbox.drain(timeout=5)
    assert [p.body["id"] for p in published] == ["old-1"]
    columns = [row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(outbox)")]
    assert "trace" in columns


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def subscriber_app(seen: list[tuple[int, int]]) -> FastAPI:
    subscriber = Subscriber(environ={})
    app = FastAPI()
    app.include_router(subscriber.router)

    @subscriber.subscribe("pubsub", "sales")
    async def on_sale(event: CloudEvent[dict[str, int]]) -> None:
        context = trace.get_current_span().get_span_context()
        seen.append((context.trace_id, context.span_id))
        if event.data.get("retry"):
            raise RetryLater

    return app


async def deliver(app: FastAPI, event: dict[str, object],
                  headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://app") as client:
        return await client.post("/dapr/events/pubsub/sales", json=event, headers=headers)


async def test_the_handler_runs_in_a_consumer_span_under_the_events_context(
    spans: InMemorySpanExporter
) -> None:
    seen: list[tuple[int, int]] = []
    app = subscriber_app(seen)
    event = {"id": "e1", "data": {"n": 1}, "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
             "tracestate": "k=v"}
    assert (await deliver(app, event)).json() == {"status": "SUCCESS"}
    # daprd's outbox leaves traceparent empty and sets traceid; the headers come last
    outbox_event = {"id": "e2", "data": {"retry": 1}, "traceparent": "",
                    "traceid": f"00-{TRACE}-1111111111111111-01"}
    assert (await deliver(app, outbox_event, {"traceparent": f"00-{'9' * 32}-{'8' * 16}-01"})
            ).json() == {"status": "RETRY"}
    assert (await deliver(app, {"id": "e3", "data": {}},
                          {"traceparent": f"00-{'9' * 32}-{'8' * 16}-01"})).status_code == 200

    first, second, third = by_name(spans)["process sales"]
    assert first.kind is SpanKind.CONSUMER
    assert (first.context.trace_id, parent_id(first)) == (int(TRACE, 16), 0x00f067aa0ba902b7)
    assert first.context.trace_state.get("k") == "v"
    assert dict(first.attributes or {}) == {
        "messaging.system": "dapr", "messaging.operation.type": "process",
        "messaging.operation.name": "process", "messaging.destination.name": "sales",
        "messaging.message.id": "e1", "kugel.pubsub": "pubsub"}
    assert seen[0] == (first.context.trace_id, first.context.span_id)
    assert (second.context.trace_id, parent_id(second)) == (int(TRACE, 16), 0x1111111111111111)
    assert second.status.status_code is StatusCode.ERROR  # RetryLater
    # the request continues the headers' trace: the handler nests under the request's spans
    assert third.context.trace_id == int("9" * 32, 16)
    assert ancestor_ids(third, spans)[-1] == int("8" * 16, 16)


trace_field = st.one_of(st.none(), st.text(max_size=80), st.integers(), st.booleans(),
                        st.lists(st.text(max_size=5), max_size=3),
                        st.builds(lambda t, s, f: f"{t}-{s}-{f}-{t}", st.text(max_size=33),
                                  st.text(max_size=17), st.text(max_size=3)))


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({}, optional={"traceparent": trace_field, "traceid": trace_field,
                                           "tracestate": trace_field}),
       st.dictionaries(st.sampled_from(["traceparent", "tracestate"]),
                       st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                               max_size=60)))
async def test_garbage_trace_fields_never_fail_a_delivery(
    fields: dict[str, object], headers: dict[str, str]
) -> None:
    seen: list[tuple[int, int]] = []
    reply = await deliver(subscriber_app(seen), {"id": "e", "data": {}, **fields}, headers)
    assert (reply.status_code, reply.json(), len(seen)) == (200, {"status": "SUCCESS"}, 1)
