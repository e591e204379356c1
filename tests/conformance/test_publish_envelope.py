"""The publish rows of shared/dapr-http-api.md: what reaches the broker, byte for byte where
daprd's code decides it (dapr pkg/api/http/http.go onPublish, pkg/runtime/pubsub
cloudevents.go, components-contrib pubsub/envelope.go and metadata/utils.go)."""

from __future__ import annotations

import base64

import pytest

from .harness import Sidecar

URL = "/v1.0/publish/pubsub/orders"
CE = {"content-type": "application/cloudevents+json"}


@pytest.mark.parametrize("value", ["1", "t", "T", "TRUE", "true", "True"])
async def test_raw_payload_true_in_every_form_go_parses(sidecar: Sidecar, value: str) -> None:
    await sidecar.expect("POST", URL, 204, content=b'{"not": "wrapped"}',
                         params={"metadata.rawPayload": value},
                         headers={"content-type": "application/json"})
    assert (sidecar.published[-1].raw, sidecar.published[-1].body) == (
        True, b'{"not": "wrapped"}')


@pytest.mark.parametrize("value", ["0", "f", "F", "FALSE", "false", "False", ""])
async def test_raw_payload_false_in_every_form_go_parses(sidecar: Sidecar, value: str) -> None:
    await sidecar.expect("POST", URL, 204, json={"n": 1}, params={"metadata.rawPayload": value})
    assert not sidecar.published[-1].raw
    assert sidecar.published[-1].body["data"] == {"n": 1}


@pytest.mark.parametrize("value", ["yes", "tRuE", "2", " true", "on"])
async def test_raw_payload_go_refuses_is_a_400(sidecar: Sidecar, value: str) -> None:
    before = len(sidecar.published)
    await sidecar.expect("POST", URL, 400, "ERR_PUBSUB_REQUEST_METADATA", json={},
                         params={"metadata.rawPayload": value})
    await sidecar.expect("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", 400,
                         "ERR_PUBSUB_REQUEST_METADATA", params={"metadata.rawPayload": value},
                         json=[{"entryId": "1", "event": 1, "contentType": "application/json"}])
    assert len(sidecar.published) == before


async def test_every_field_daprd_sets(sidecar: Sidecar) -> None:
    answer = await sidecar.expect("POST", URL, 204, json={"n": 1})
    assert answer.content == b""
    envelope = sidecar.published[-1].body
    assert set(envelope) == {"id", "specversion", "source", "type", "topic", "pubsubname",
                             "datacontenttype", "time", "traceid", "traceparent", "tracestate",
                             "data"}
    assert envelope["time"] == "1970-01-01T00:16:40Z"  # RFC 3339 in whole seconds
    assert len(envelope["id"]) == 36


async def test_octet_stream_is_carried_as_data_base64(sidecar: Sidecar) -> None:
    payload = bytes(range(256))
    await sidecar.expect("POST", URL, 204, content=payload,
                         headers={"content-type": "application/octet-stream"})
    envelope = sidecar.published[-1].body
    assert base64.b64decode(envelope["data_base64"]) == payload
    assert "data" not in envelope
    assert envelope["datacontenttype"] == "application/octet-stream"


@pytest.mark.parametrize(("content_type", "body", "data"), [
    ("application/json", b"{not json", "{not json"),  # kept as a string, still 204
    ("application/json; charset=utf-8", b'{"a": 1}', {"a": 1}),
    ("APPLICATION/JSON", b"[1]", [1]),
    ("application/problem+json", b'{"a": 1}', '{"a": 1}'),  # not application/json: text
    ("text/plain", b'{"a": 1}', '{"a": 1}'),
    ("application/json", b'{"a": 1} trailing', {"a": 1}),  # Go decodes the first value
])
async def test_data_follows_the_content_type(sidecar: Sidecar, content_type: str, body: bytes,
                                             data: object) -> None:
    await sidecar.expect("POST", URL, 204, content=body, headers={"content-type": content_type})
    envelope = sidecar.published[-1].body
    assert (envelope["data"], envelope["datacontenttype"]) == (data, content_type)


async def test_cloudevent_metadata_overrides(sidecar: Sidecar) -> None:
    await sidecar.expect("POST", URL, 204, json={}, params={
        "metadata.cloudevent.id": "i", "metadata.cloudevent.type": "t",
        "metadata.cloudevent.source": "s", "metadata.cloudevent.subject": "subj"})
    envelope = sidecar.published[-1].body
    assert [envelope[k] for k in ("id", "type", "source", "subject")] == ["i", "t", "s", "subj"]
    await sidecar.expect("POST", URL, 204, json={}, params={"metadata.cloudevent.source": ""})
    assert sidecar.published[-1].body["source"] == "Dapr"


async def test_a_query_key_given_twice_counts_once_with_its_first_value(
        sidecar: Sidecar) -> None:
    await sidecar.expect("POST", f"{URL}?metadata.cloudevent.id=first"
                                 "&metadata.cloudevent.id=second", 204, json={})
    assert sidecar.published[-1].body["id"] == "first"


async def test_a_clients_own_cloudevent_passes_through(sidecar: Sidecar) -> None:
    own = {"id": "mine", "type": "mine.type", "specversion": "1.0", "topic": "elsewhere",
           "pubsubname": "other", "data": {"n": 1}, "custom": "kept", "time": "then"}
    await sidecar.expect("POST", URL, 204, json=own, headers=CE,
                         params={"metadata.cloudevent.id": "ignored",
                                 "metadata.cloudevent.type": "ignored"})
    passed = sidecar.published[-1].body
    assert passed == {**own, "topic": "orders", "pubsubname": "pubsub", "source": "Dapr",
                      "traceid": "", "traceparent": "", "tracestate": ""}
    await sidecar.expect("POST", URL, 204, json={"source": None, "data": 1}, headers=CE)
    passed = sidecar.published[-1].body
    assert "id" not in passed and passed["source"] == "Dapr"
    assert (passed["type"], passed["specversion"]) == ("com.dapr.event.sent", "1.0")


@pytest.mark.parametrize("body", [b"{bad", b"[1, 2]", b'"text"', b"", b"42"])
async def test_a_cloudevent_body_that_is_not_an_object_is_a_500(sidecar: Sidecar,
                                                               body: bytes) -> None:
    before = len(sidecar.published)
    await sidecar.expect("POST", URL, 500, "ERR_PUBSUB_CLOUD_EVENTS_SER", content=body,
                         headers=CE)
    assert len(sidecar.published) == before


@pytest.mark.parametrize(("metadata", "expiration"), [
    ({"ttlInSeconds": "60"}, "1970-01-01T00:17:40Z"),
    ({"TTLINSECONDS": "60"}, "1970-01-01T00:17:40Z"),  # looked up in any case
    ({"ttl": "90s"}, "1970-01-01T00:18:10Z"),  # or as a Go duration, under either name
    ({"ttlInSeconds": "1h"}, "1970-01-01T01:16:40Z"),
    ({"ttlInSeconds": "-5s"}, "1970-01-01T00:16:40Z"),  # a negative duration: now
    ({"ttlInSeconds": "0"}, "1970-01-01T00:16:40Z"),
    ({"ttlInSeconds": "abc"}, None),  # does not parse: ignored
    ({"ttlInSeconds": "-1"}, None),  # a number of seconds must be above zero
    ({"ttlInSeconds": "1.5"}, None),
    ({"ttlInSeconds": "9" * 40}, None),
    ({"ttl": "", "ttlInSeconds": "60"}, None),  # "ttl" is found first, and is empty
])
async def test_ttl_adds_an_expiration(sidecar: Sidecar, metadata: dict[str, str],
                                      expiration: str | None) -> None:
    params = {f"metadata.{key}": value for key, value in metadata.items()}
    await sidecar.expect("POST", URL, 204, json={}, params=params)
    assert sidecar.published[-1].body.get("expiration") == expiration
    await sidecar.expect("POST", URL, 204, json={"specversion": "1.0"}, params=params,
                         headers=CE)  # a client's own envelope too
    assert sidecar.published[-1].body.get("expiration") == expiration


async def test_a_broker_that_is_down_is_a_500(sidecar: Sidecar) -> None:
    sidecar.published.down = True
    await sidecar.expect("POST", URL, 500, "ERR_PUBSUB_PUBLISH_MESSAGE", json={})
    await sidecar.expect("POST", URL, 500, "ERR_PUBSUB_PUBLISH_MESSAGE", content=b"x",
                         params={"metadata.rawPayload": "true"})


async def test_the_topic_is_checked_after_the_body(sidecar: Sidecar) -> None:
    """daprd's publisher checks topic scopes after the envelope is built: a malformed body on
    a forbidden topic answers for the body."""
    forbidden = "/v1.0/publish/pubsub/refunds"
    await sidecar.expect("POST", forbidden, 500, "ERR_PUBSUB_CLOUD_EVENTS_SER", content=b"[",
                         headers=CE)
    await sidecar.expect("POST", forbidden, 400, "ERR_PUBSUB_REQUEST_METADATA", json={},
                         params={"metadata.rawPayload": "maybe"})
    await sidecar.expect("POST", forbidden, 403, "ERR_PUBSUB_FORBIDDEN", content=b"x",
                         params={"metadata.rawPayload": "true"})
    bulk = "/v1.0-alpha1/publish/bulk/pubsub/refunds"
    await sidecar.expect("POST", bulk, 400, "ERR_PUBSUB_EVENTS_SER", json=[{"entryId": "1"}])
    await sidecar.expect("PUT", bulk, 403, "ERR_PUBSUB_FORBIDDEN", json=[
        {"entryId": "1", "event": 1, "contentType": "application/json"}])
