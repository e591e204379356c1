"""Publish and bulk publish under any body: daprd's typed answer, and exactly the events the
bodies describe (no Python repr, nothing half published).

Runs in ``make test`` with the default profile and longer under ``make fuzz``
(``HYPOTHESIS_PROFILE=fuzz``), like the rest of this folder.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kugel_common.dapr.sidecar._events import Published

from .test_sidecar_fuzz import CLIENT, check, values

PUBLISH = "/v1.0/publish/pubsub/orders"
BULK = "/v1.0-alpha1/publish/bulk/pubsub/orders"
MEDIA = ["application/json", "text/plain", "application/octet-stream",
         "application/cloudevents+json", "application/xml", "image/png", "",
         "application/json; charset=utf-8", "TEXT/PLAIN"]
RAW = st.sampled_from(["true", "false", "1", "0", "T", "", "yes", "tRuE"])
TTL = st.sampled_from(["10", "-1", "1h", "abc", "-5s", "0", "9" * 30])
QUERY = st.fixed_dictionaries({}, optional={"metadata.rawPayload": RAW,
                                            "metadata.ttlInSeconds": TTL,
                                            "metadata.cloudevent.id": st.text(max_size=4)})
GO_BOOL_TRUE = {"true", "1", "T"}
GO_BOOL = GO_BOOL_TRUE | {"false", "0", ""}


def float64(value: Any) -> Any:
    """A JSON value as it is after Go's decoder: every number a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [float64(item) for item in value]
    return {key: float64(item) for key, item in value.items()}


def strict_json(body: bytes) -> Any:
    """JSON that Go's decoder accepts as a whole: no NaN or Infinity, no number out of range."""

    def refuse(text: str) -> float:
        raise ValueError(text)

    def finite(text: str) -> float:
        if math.isinf(float(text)):
            raise ValueError(text)
        return float(text)

    return json.loads(body, parse_constant=refuse, parse_float=finite, parse_int=finite)


def published_since(before: int) -> list[Published]:
    return CLIENT.published[before:]


def serialisable(event: Published) -> None:
    """What reaches the broker is bytes or a JSON object with no Python-only values."""
    if event.raw:
        assert isinstance(event.body, bytes)
    else:
        assert isinstance(event.body, dict)
        json.dumps(event.body, allow_nan=False)


bodies = st.one_of(values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=30),
                   st.sampled_from([b"", b"{", b'{"id": "x"}', b"[1]", b"null", b"1 2"]))


@given(body=bodies, media=st.sampled_from(MEDIA), query=QUERY)
def test_publish_answers_with_daprds_codes_and_publishes_the_body(
        body: bytes, media: str, query: dict[str, str]) -> None:
    before = len(CLIENT.published)
    response = CLIENT.post(PUBLISH, content=body, params=query,
                           headers={"content-type": media} if media else {})
    check(response)
    new = published_since(before)
    raw = query.get("metadata.rawPayload", "")
    if response.status_code != 204:
        assert new == []
        code = response.json()["errorCode"]
        if raw not in GO_BOOL:
            assert code == "ERR_PUBSUB_REQUEST_METADATA"
        else:
            assert code == "ERR_PUBSUB_CLOUD_EVENTS_SER"
            assert media == "application/cloudevents+json" and raw not in GO_BOOL_TRUE
        return
    assert raw in GO_BOOL and len(new) == 1
    event = new[0]
    serialisable(event)
    if raw in GO_BOOL_TRUE:
        assert (event.raw, event.body) == (True, body)
        return
    envelope = event.body
    assert (envelope["topic"], envelope["pubsubname"]) == ("orders", "pubsub")
    if media.startswith("application/cloudevents+json"):
        return
    assert envelope["datacontenttype"] == (media or "text/plain")
    kind = media.lower().split(";")[0]
    if kind == "application/octet-stream":
        assert base64.b64decode(envelope["data_base64"]) == body
    elif kind != "application/json":
        assert envelope["data"] == body.decode("utf-8", "replace")
    else:
        try:
            parsed = strict_json(body)
        except ValueError:
            return  # Go reads the first value, or keeps the text: both checked elsewhere
        assert float64(envelope["data"]) == float64(parsed)


events = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3), max_leaves=8)


def bulk_entry() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"entryId": st.sampled_from(["a", "b", "c", "d"]),
         "contentType": st.sampled_from(MEDIA)},
        optional={"event": events | st.binary(max_size=6).map(
                      lambda b: base64.b64encode(b).decode()),
                  "metadata": st.dictionaries(st.sampled_from(["cloudevent.id", "k"]),
                                              st.text(max_size=3), max_size=2)})


def expected_data(entry: dict[str, Any]) -> tuple[str, Any]:
    """The envelope field and value an accepted entry must become."""
    kind, event = entry["contentType"].lower().split(";")[0], entry.get("event")
    if kind == "application/octet-stream":
        return "data_base64", base64.b64encode(base64.b64decode(event)).decode()
    if kind == "application/json":
        return "data", float64(event)
    return "data", event


@given(entries=st.lists(bulk_entry(), max_size=4), query=QUERY)
def test_bulk_publish_publishes_every_entry_as_sent_or_none(
        entries: list[dict[str, Any]], query: dict[str, str]) -> None:
    before = len(CLIENT.published)
    response = CLIENT.post(BULK, json=entries, params=query)
    check(response)
    new = published_since(before)
    if response.status_code != 204:
        assert new == []  # nothing half published
        assert response.json()["errorCode"] in (
            "ERR_PUBSUB_EVENTS_SER", "ERR_PUBSUB_REQUEST_METADATA",
            "ERR_PUBSUB_CLOUD_EVENTS_SER")
        return
    assert len(new) == len(entries)
    assert len({e["entryId"] for e in entries}) == len(entries)
    for entry, event in zip(entries, new, strict=True):
        serialisable(event)
        if event.raw or entry["contentType"].startswith("application/cloudevents+json"):
            continue
        field, value = expected_data(entry)
        got = event.body[field]
        assert (float64(got) if field == "data" else got) == value
        assert event.body["datacontenttype"] == entry["contentType"]
