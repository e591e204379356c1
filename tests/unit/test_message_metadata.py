"""Publish metadata on the way to the app, as daprd 1.18 handles it: the JSON pubsub.redis
stores, the headers daprd sends, the CloudEvent fields it fills in, the dead letters it
republishes; and pubsub.redis's stream limits as its settings are read."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from kugel_common.dapr.sidecar import AppSpec, Component, InvalidSetting, LocalSidecar
from kugel_common.dapr.sidecar._broker import Message, StreamLimits
from kugel_common.dapr.sidecar._bulk import deliver_bulk
from kugel_common.dapr.sidecar._delivery import BulkSubscribe, Subscription, Verdict, rule_of
from kugel_common.dapr.sidecar._events import Published
from kugel_common.dapr.sidecar._gojson import go_marshal, go_string_map
from kugel_common.dapr.sidecar._message_headers import delivery_headers
from kugel_common.dapr.sidecar._resiliency import Policy
from kugel_common.dapr.sidecar._streams import Trim
from kugel_common.dapr.sidecar._subscriber import Subscriber
from kugel_common.testing import FakeClock

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_metadata_is_stored_as_encoding_json_writes_a_map() -> None:
    stored = go_marshal({"b": "<a & b>", "a": "é\u2028\b\x01"}, std=True)
    assert stored == b'{"a":"\xc3\xa9\\u2028\\b\\u0001","b":"\\u003ca \\u0026 b\\u003e"}'
    assert go_marshal({"b": "<a>\b"}) == b'{"b":"<a>\\u0008"}'  # jsoniter, as before


@pytest.mark.parametrize(("raw", "decoded", "fails"), [
    (b'{"tenant":"acme"}', {"tenant": "acme"}, False),
    (b"{}", {}, False),
    (b"null", None, False),
    (b'{"n":1,"o":{},"z":null,"s":"x"}', {"n": "", "o": "", "z": "", "s": "x"}, True),
    (b'"text"', None, True),
    (b"[1]", None, True),
    (b"{", None, True),
    (b'{"a":"b"} x', None, True),  # Unmarshal wants one value, nothing after it
    (b'{"a":NaN}', None, True),
    (b'{"a":"\xff\\ud800"}', {"a": "\ufffd\ufffd"}, False),
])
def test_stored_metadata_is_read_as_json_unmarshal_into_a_string_map(
        raw: bytes, decoded: dict[str, str] | None, fails: bool) -> None:
    metadata, error = go_string_map(raw)
    assert metadata == decoded
    assert (error is not None) == fails


def test_metadata_becomes_headers_as_daprd_sends_them() -> None:
    headers = delivery_headers({
        "tenant": "acme", "Tenant": "other", "pubsubName": "pubsub", "content-type": "x",
        "Content-Length": "9", "host": "evil", "destination-app-id": "a", "token-bin": "AA",
        "Connection": "x-drop, baggage", "x-drop": "1", "keep-alive": "5", "te": "trailers",
        "baggage": "k=v", "grpc-status": "3", ":path": "/p", "traceparent": TRACEPARENT,
        "tracestate": "k=v", "rawPayload": "true", "cloudevent.id": "c", "empty": ""})
    assert headers == {
        "tenant": "acme, other", "pubsubname": "pubsub", "baggage": "k=v",
        "dapr-grpc-status": "3", "dapr-path": "/p", "traceparent": TRACEPARENT,
        "tracestate": "k=v", "rawpayload": "true", "cloudevent.id": "c", "empty": ""}


@pytest.mark.parametrize(("metadata", "trace"), [
    ({"tracestate": "k=v"}, {}),  # a tracestate goes only with a traceparent
    ({"traceparent": "", "tracestate": "k=v"}, {}),
    ({"traceparent": TRACEPARENT, "content-type": "application/grpc"}, {}),  # grpc-trace-bin
    ({"Traceparent": TRACEPARENT}, {"traceparent": TRACEPARENT}),
])
def test_trace_headers(metadata: dict[str, str], trace: dict[str, str]) -> None:
    headers = delivery_headers(metadata)
    assert {k: v for k, v in headers.items() if k.startswith("trace")} == trace


class App:
    """The app's side of the Subscriber: what it was posted, what went to dead letters."""

    def __init__(self, answer: bytes = b"") -> None:
        self.answer = answer
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []
        self.dead: list[Published] = []
        clock = FakeClock()
        self.subscriber = Subscriber(self.post, self.publish, lambda _: Policy(), clock.sleep,
                                     clock.now)

    async def post(self, path: str, body: bytes,
                   headers: Mapping[str, str]) -> tuple[int | None, bytes]:
        self.posts.append((path, body, dict(headers)))
        return 200, self.answer

    async def publish(self, event: Published) -> None:
        self.dead.append(event)


def message(data: Any, metadata: dict[str, str] | None) -> Message:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Message("1-0", "pubsub", "orders", body, metadata=metadata)


EVENT = {"id": "e1", "type": "order", "source": "s", "specversion": "1.0", "data": {"n": 1}}


async def test_the_app_gets_the_metadata_and_a_dead_letter_keeps_it() -> None:
    app = App(b'{"status": "DROP"}')
    sub = Subscription("pubsub", "orders", "/orders", dead_letter_topic="dead")
    stored = {"tenant": "acme", "pubsubName": "spoofed"}
    assert await app.subscriber.handle("sub", sub, message(EVENT, stored)) is Verdict.ACK
    [(path, body, headers)] = app.posts
    assert path == "/orders"
    assert json.loads(body) == EVENT
    assert headers == {"tenant": "acme", "pubsubname": "pubsub",
                       "content-type": "application/cloudevents+json"}
    [dead] = app.dead
    assert (dead.topic, dead.raw, dead.body) == ("dead", True, json.dumps(EVENT).encode())
    assert dead.metadata == {"tenant": "acme", "pubsubName": "pubsub"}  # daprd adds its own
    no_metadata = App(b'{"status": "DROP"}')
    await no_metadata.subscriber.handle("sub", sub, message(EVENT, None))
    assert no_metadata.posts[0][2]["pubsubname"] == "pubsub"
    assert no_metadata.dead[0].metadata == {"pubsubName": "pubsub"}


async def test_a_raw_payload_cloud_event_takes_the_trace_fields_of_the_metadata() -> None:
    app = App()
    sub = Subscription("pubsub", "orders", "/raw", metadata={"rawPayload": "true"})
    stored = {"traceid": "old", "traceparent": TRACEPARENT, "tracestate": "k=v"}
    await app.subscriber.handle("sub", sub, message(b"\x00bytes", stored))
    event = json.loads(app.posts[0][1])
    assert (event["traceid"], event["traceparent"]) == (TRACEPARENT, TRACEPARENT)
    assert event["tracestate"] == "k=v"
    await app.subscriber.handle("sub", sub, message(b"\x00bytes", {"traceid": "only"}))
    event = json.loads(app.posts[1][1])
    assert event["traceid"] == "only" and "traceparent" not in event


async def test_an_octet_stream_content_type_makes_the_event_of_ce_metadata() -> None:
    """daprd routes and expires by a CloudEvent of the ``ce_*`` metadata and posts the bytes."""
    app = App()
    sub = Subscription("pubsub", "orders", "/other",
                       rules=(rule_of('event.type == "order"', "/orders"),),
                       dead_letter_topic="dead")
    stored = {"content-type": "application/octet-stream", "CE_type": "order"}
    await app.subscriber.handle("sub", sub, message(b"\xffnot json", stored))
    assert [(path, body) for path, body, _ in app.posts] == [("/orders", b"\xffnot json")]
    expired = {**stored, "ce_expiration": "1970-01-01T00:00:01Z"}
    assert await app.subscriber.handle("sub", sub, message(b"x", expired)) is Verdict.ACK
    assert len(app.posts) == 1 and [d.body for d in app.dead] == [b"x"]


async def test_bulk_entries_carry_the_stored_metadata_and_keep_it_as_dead_letters() -> None:
    app = App(b'{"statuses": []}')
    sub = Subscription("pubsub", "orders", "/bulk", dead_letter_topic="dead",
                       bulk=BulkSubscribe())
    messages = [message(EVENT, {"tenant": "acme"}), message(EVENT, None)]
    assert await deliver_bulk(app.subscriber, "sub", sub, messages) == [True, True]
    [(_, body, headers)] = app.posts
    assert [e["metadata"] for e in json.loads(body)["entries"]] == [{"tenant": "acme"}, None]
    assert headers["pubsubname"] == "pubsub" and "tenant" not in headers
    assert [d.metadata for d in app.dead] == [{"tenant": "acme"}, None]  # no pubsubName


@pytest.mark.parametrize(("metadata", "limits"), [
    ({}, StreamLimits()),
    ({"maxLenApprox": "100"}, StreamLimits(max_len=100)),
    ({"maxLenApprox": "-5"}, StreamLimits()),  # go-redis sends MAXLEN only above 0
    ({"streamTTL": "1m30s"}, StreamLimits(ttl=90.0)),
    ({"streamTTL": "500"}, StreamLimits(ttl=0.5)),  # a bare number is milliseconds
])
def test_stream_limits_are_read_as_components_contrib_reads_them(
        metadata: dict[str, str], limits: StreamLimits) -> None:
    assert StreamLimits.of(Component("p", "pubsub.redis", metadata=metadata)) == limits


@pytest.mark.parametrize("metadata", [{"maxLenApprox": "1e3"}, {"maxLenApprox": "1_000"},
                                      {"maxLenApprox": str(2**63)}, {"streamTTL": "1 day"}])
def test_stream_limits_daprd_refuses_stop_the_start(metadata: dict[str, str]) -> None:
    with pytest.raises(InvalidSetting) as refused:
        LocalSidecar([AppSpec("a")], [Component("p", "pubsub.redis", metadata=metadata)])
    assert refused.value.setting == next(iter(metadata))


def test_with_both_limits_max_len_trims_and_a_warning_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    component = Component("p", "pubsub.redis", metadata={"maxLenApprox": "10",
                                                         "streamTTL": "1h"})
    with caplog.at_level(logging.WARNING, "kugel_common.dapr.sidecar"):
        limits = StreamLimits.of(component)
    assert "cannot be used together" in caplog.text
    assert limits.trim(now=5000.0) == Trim(max_len=10)
    assert StreamLimits(ttl=60.0).trim(now=5000.0) == Trim(min_ms=4_940_000)
    assert StreamLimits().trim(now=5000.0) == Trim()
    in_memory = Component("m", "pubsub.in-memory", metadata={"maxLenApprox": "x"})
    assert StreamLimits.of(in_memory) == StreamLimits()  # only pubsub.redis trims
