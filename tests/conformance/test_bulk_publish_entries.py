"""The bulk publish rows of shared/dapr-http-api.md (dapr pkg/api/http/http.go onBulkPublish,
util.go ConvertEventToBytes, pkg/runtime/pubsub/default_bulkpub.go)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from .harness import Sidecar

URL = "/v1.0-alpha1/publish/bulk/pubsub/orders"
JSON = "application/json"
GOOD = {"entryId": "ok", "event": {"n": 1}, "contentType": JSON}


@pytest.mark.parametrize("bad", [
    {"event": 1, "contentType": JSON},  # no entryId
    {"entryId": "", "event": 1, "contentType": JSON},
    {"entryId": "ok", "event": 1, "contentType": JSON},  # the id of GOOD again
    {"entryId": "2", "event": 1},  # no contentType
    {"entryId": "2", "event": 1, "contentType": ""},
    {"entryId": "2", "event": {"n": 1}, "contentType": "text/plain"},  # text must be a string
    {"entryId": "2", "event": 5, "contentType": "application/xml"},
    {"entryId": "2", "event": "not base64!", "contentType": "application/octet-stream"},
    {"entryId": "2", "event": 5, "contentType": "application/octet-stream"},
    {"entryId": "2", "event": 1, "contentType": "image/png"},  # no conversion for it
    {"entryId": "2", "event": 1, "contentType": "application/problem+json"},
    {"entryId": 2, "event": 1, "contentType": JSON},  # Go cannot decode these fields
    {"entryId": "2", "event": 1, "contentType": JSON, "metadata": {"k": 1}},
])
async def test_a_bad_entry_refuses_the_whole_request(sidecar: Sidecar,
                                                     bad: dict[str, Any]) -> None:
    before = len(sidecar.published)
    await sidecar.expect("POST", URL, 400, "ERR_PUBSUB_EVENTS_SER", json=[GOOD, bad])
    assert len(sidecar.published) == before  # nothing published, GOOD included


@pytest.mark.parametrize("body", [b"{}", b"[1]", b'["x"]', b"[", b""])
async def test_a_body_that_is_not_a_list_of_entries_is_a_400(sidecar: Sidecar,
                                                            body: bytes) -> None:
    await sidecar.expect("POST", URL, 400, "ERR_PUBSUB_EVENTS_SER", content=body)


async def test_null_and_empty_lists_publish_nothing(sidecar: Sidecar) -> None:
    before = len(sidecar.published)
    await sidecar.expect("POST", URL, 204, content=b"null")
    await sidecar.expect("PUT", URL, 204, json=[])
    assert len(sidecar.published) == before


async def test_each_content_type_becomes_the_envelopes_data(sidecar: Sidecar) -> None:
    raw = bytes(range(10))
    answer = await sidecar.expect("PUT", URL, 204, json=[
        {"entryId": "j", "event": {"b": 1, "a": 2**53 + 1}, "contentType": JSON},
        {"entryId": "t", "event": "hello", "contentType": "text/plain; charset=utf-8"},
        {"entryId": "x", "event": "<a/>", "contentType": "application/xml"},
        {"entryId": "o", "event": base64.b64encode(raw).decode(),
         "contentType": "application/octet-stream"},
    ])
    assert answer.content == b""
    j, t, x, o = (p.body for p in sidecar.published[-4:])
    assert j["data"] == {"a": 2**53, "b": 1}  # through Go's float64: precision is lost
    assert (t["data"], x["data"]) == ("hello", "<a/>")
    assert base64.b64decode(o["data_base64"]) == raw and "data" not in o
    assert [p.body["datacontenttype"] for p in sidecar.published[-4:]] == [
        JSON, "text/plain; charset=utf-8", "application/xml", "application/octet-stream"]


async def test_no_python_repr_reaches_an_event(sidecar: Sidecar) -> None:
    events: list[Any] = [None, True, 1.5, [1, {"k": None}], {"x": [True]}]
    await sidecar.expect("POST", URL, 204, json=[
        {"entryId": str(i), "event": event, "contentType": JSON} for i, event in
        enumerate(events)])
    assert [p.body["data"] for p in sidecar.published[-5:]] == events


async def test_raw_payload_is_read_from_the_request_only(sidecar: Sidecar) -> None:
    """daprd checks ``rawPayload`` in the query; an entry's own ``rawPayload`` does not stop
    the envelope (pkg/api/http/http.go, onBulkPublish: ``if !rawPayload``)."""
    await sidecar.expect("POST", URL, 204, params={"metadata.rawPayload": "true"}, json=[
        {"entryId": "1", "event": {"n": 1}, "contentType": JSON},
        {"entryId": "2", "event": "aGk=", "contentType": "application/octet-stream"}])
    first, second = sidecar.published[-2:]
    assert (first.raw, first.body, second.raw, second.body) == (True, b'{"n":1}', True, b"hi")
    await sidecar.expect("POST", URL, 204, json=[
        {"entryId": "1", "event": {"n": 1}, "contentType": JSON,
         "metadata": {"rawPayload": "true"}}])
    assert not sidecar.published[-1].raw
    assert sidecar.published[-1].body["data"] == {"n": 1}


async def test_request_metadata_reaches_entries_with_metadata_of_their_own(
        sidecar: Sidecar) -> None:
    """PopulateMetadataForBulkPublishEntry runs only where ``entry.Metadata != nil``; the
    entry's own keys win."""
    await sidecar.expect("POST", URL, 204, params={"metadata.cloudevent.type": "from-query",
                                                   "metadata.ttlInSeconds": "60"}, json=[
        {"entryId": "none", "event": 1, "contentType": JSON},
        {"entryId": "empty", "event": 1, "contentType": JSON, "metadata": {}},
        {"entryId": "own", "event": 1, "contentType": JSON,
         "metadata": {"cloudevent.type": "own"}}])
    none, empty, own = (p.body for p in sidecar.published[-3:])
    assert (none["type"], "expiration" in none) == ("com.dapr.event.sent", False)
    assert (empty["type"], "expiration" in empty) == ("from-query", True)
    assert (own["type"], "expiration" in own) == ("own", True)


async def test_a_cloudevent_entry_must_be_an_object(sidecar: Sidecar) -> None:
    ce = "application/cloudevents+json"
    await sidecar.expect("POST", URL, 204, json=[
        {"entryId": "1", "event": {"id": "mine", "data": 1}, "contentType": ce}])
    assert sidecar.published[-1].body["id"] == "mine"
    before = len(sidecar.published)
    await sidecar.expect("POST", URL, 500, "ERR_PUBSUB_CLOUD_EVENTS_SER", json=[
        GOOD, {"entryId": "2", "event": [1], "contentType": ce}])
    assert len(sidecar.published) == before


async def test_failed_entries_are_listed_with_daprds_code(sidecar: Sidecar) -> None:
    broker = sidecar.published
    broker.down = True
    answer = await sidecar.expect("POST", URL, 500, "ERR_PUBSUB_PUBLISH_MESSAGE", json=[
        GOOD, {"entryId": "b", "event": "x", "contentType": "text/plain"}])
    failed = answer.json()["failedEntries"]
    assert [entry["entryId"] for entry in failed] == ["ok", "b"]
    assert all(isinstance(entry["error"], str) and entry["error"] for entry in failed)
