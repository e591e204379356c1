"""Trace context through the sidecar as daprd passes it with its default tracer, a no-op that
keeps the caller's span context (dapr diagnostics HTTPTraceMiddleware, SpanContextFromW3CString,
TraceIDAndStateFromSpan; http.go onPublish and onBulkPublish; outbox PublishInternal;
postman http Deliver and DeliverBulk; messaging InternalMetadataToHTTPHeader)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kugel_common.dapr.sidecar._tracecontext import (
    bulk_traceparent,
    event_traceparent,
    invocation_headers,
    parse_traceparent,
    parse_tracestate,
)

from .harness import Sidecar, local_sidecar

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
URL = "/v1.0/publish/pubsub/orders"


@pytest.fixture
async def embedded() -> AsyncIterator[Sidecar]:
    async with local_sidecar() as local:
        yield local


async def test_publish_puts_the_request_context_in_the_cloud_event(embedded: Sidecar) -> None:
    answer = await embedded.expect("POST", URL, 204, json={"n": 1},
                                   headers={"traceparent": PARENT, "tracestate": "a=1, b=2"})
    event = embedded.published[-1].body
    assert (event["traceid"], event["traceparent"], event["tracestate"]) == (
        PARENT, PARENT, "a=1,b=2")  # Go's TraceState.String
    assert (answer.headers["traceparent"], answer.headers["tracestate"]) == (PARENT, "a=1,b=2")


async def test_a_later_version_is_written_back_as_version_00(embedded: Sidecar) -> None:
    await embedded.expect("POST", URL, 204, json={},
                          headers={"traceparent": f"01-{TRACE}-00f067aa0ba902b7-09-future"})
    assert embedded.published[-1].body["traceparent"] == f"00-{TRACE}-00f067aa0ba902b7-09"


@pytest.mark.parametrize("header", [
    "", "garbage", f"00-{TRACE.upper()}-00f067aa0ba902b7-01", f"00-{'0' * 32}-00f067aa0ba902b7-01",
    f"00-{TRACE}-0000000000000000-01", f"00-{TRACE}-00f067aa0ba902b7-01-extra",
    f"ff-{TRACE}-00f067aa0ba902b7-01", f"00-{TRACE}-00f067aa0ba902b7-1"])
async def test_a_traceparent_daprd_cannot_read_gives_no_context(embedded: Sidecar,
                                                                 header: str) -> None:
    answer = await embedded.expect("POST", URL, 204, json={},
                                   headers={"traceparent": header, "tracestate": "a=1"})
    event = embedded.published[-1].body
    assert (event["traceid"], event["traceparent"], event["tracestate"]) == ("", "", "")
    assert "traceparent" not in answer.headers


async def test_metadata_overrides_still_win(embedded: Sidecar) -> None:
    mine = f"00-{'1' * 32}-{'2' * 16}-00"
    await embedded.expect("POST", URL, 204, json={}, headers={"traceparent": PARENT},
                          params={"metadata.cloudevent.traceparent": mine})
    assert embedded.published[-1].body["traceparent"] == mine


async def test_a_client_cloud_event_gets_the_context_only_where_it_has_none(
        embedded: Sidecar) -> None:
    headers = {"traceparent": PARENT, "content-type": "application/cloudevents+json"}
    await embedded.expect("POST", URL, 204, json={"id": "1", "data": 1}, headers=headers)
    await embedded.expect("POST", URL, 204, json={"id": "2", "traceid": "mine"},
                          headers=headers)
    first, second = (p.body for p in embedded.published[-2:])
    assert (first["traceid"], first["traceparent"]) == (PARENT, PARENT)
    assert second["traceid"] == "mine" and "traceparent" not in second


async def test_every_bulk_entry_carries_the_request_context(embedded: Sidecar) -> None:
    entries = [{"entryId": str(n), "event": {"n": n}, "contentType": "application/json"}
               for n in range(2)]
    await embedded.expect("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", 204,
                          json=entries, headers={"traceparent": PARENT})
    assert [p.body["traceparent"] for p in embedded.published[-2:]] == [PARENT, PARENT]


async def test_the_outbox_sets_traceid_and_leaves_traceparent_empty(embedded: Sidecar) -> None:
    await embedded.expect("POST", "/v1.0/state/outboxstore/transaction", 204, json={
        "operations": [{"operation": "upsert", "request": {"key": "k", "value": 1}}]},
        headers={"traceparent": PARENT, "tracestate": "k=v"})
    event = embedded.published[-1].body
    assert (event["traceid"], event["traceparent"], event["tracestate"]) == (PARENT, "", "k=v")


async def test_health_answers_carry_no_trace_headers(embedded: Sidecar) -> None:
    answer = await embedded.expect("GET", "/v1.0/healthz", 204, headers={"traceparent": PARENT})
    assert "traceparent" not in answer.headers


def test_delivery_takes_the_events_traceparent_else_its_traceid() -> None:
    other = f"00-{'a' * 32}-{'b' * 16}-00"
    assert event_traceparent({"traceparent": PARENT, "traceid": other}) == PARENT
    assert event_traceparent({"traceparent": None, "traceid": other}) == other
    assert event_traceparent({"traceid": other}) == other
    assert event_traceparent({"traceparent": "", "traceid": other}) is None  # the outbox's
    assert event_traceparent({"traceparent": 7}) is None
    assert event_traceparent(None) is None
    # bulk: the last entry with a string trace field decides, even one that does not parse
    assert bulk_traceparent([{"traceparent": PARENT}, {"data": 1}]) == PARENT
    assert bulk_traceparent([{"traceparent": PARENT}, {"traceparent": "x"}]) is None


def test_invocation_passes_a_parsed_context_normalised_and_anything_else_as_sent() -> None:
    assert invocation_headers({"traceparent": PARENT, "tracestate": "a=1 "}) == [
        ("traceparent", PARENT), ("tracestate", "a=1 ")]
    assert invocation_headers({"traceparent": "junk"}) == [("traceparent", "junk")]
    assert invocation_headers({"tracestate": "a=1"}) == []  # no traceparent: no tracestate


@pytest.mark.parametrize(("given", "kept"), [
    ("a=1,b=2", "a=1,b=2"), (" a=1 ,,b=2\t", "a=1,b=2"), ("t@sys=x", "t@sys=x"),
    ("A=1", ""), ("a=1,a=2", ""), ("a", ""), ("a=", ""), ("a=x,y", ""),
    (",".join(f"k{n}=v" for n in range(33)), "")])
def test_tracestate_is_read_as_opentelemetry_go_reads_it(given: str, kept: str) -> None:
    assert parse_tracestate(given) == kept
    context = parse_traceparent(PARENT, given)
    assert context is not None and context.tracestate == kept
