"""Rows of shared/dapr-http-api.md, asserted on status codes and errorCodes, never messages.

By default the suite runs against the local sidecar, in-process. To hold a real daprd to the
same rows, start it with this folder's components and point the suite at it:

    daprd --app-id app-a --resources-path tests/conformance/components   # with Redis, and
    KUGEL_CONFORMANCE_URL=http://127.0.0.1:3500 DAPR_API_TOKEN=... pytest tests/conformance

Checks that need to see inside the sidecar (the envelope it built, a clock to expire keys)
run only against the local one.
"""

from __future__ import annotations

import httpx
import pytest

from kugel_common.testing import FakeClock

from .harness import EXTERNAL, Sidecar, build


async def test_api_token_is_enforced_except_on_health(sidecar: Sidecar) -> None:
    response = await sidecar.client.get("/v1.0/metadata")
    assert response.status_code == 401
    assert response.text == "invalid api token"
    assert response.headers["content-type"].startswith("text/plain")
    for path in ("/v1.0/healthz", "/v1.0/healthz/outbound"):
        assert (await sidecar.client.get(path)).status_code == 204
    metadata = (await sidecar.expect("GET", "/v1.0/metadata", 200)).json()
    assert metadata["id"] == "app-a"
    names = {c["name"] for c in metadata["components"]}
    assert {"statestore", "pubsub", "outboxstore"} <= names
    assert "other-apps-store" not in names  # scoped to app-b


async def test_state_rows(sidecar: Sidecar) -> None:
    url = "/v1.0/state/statestore"
    k, missing = sidecar.key("k"), sidecar.key("missing")
    await sidecar.expect("POST", url, 204, json=[{"key": k, "value": {"n": 1}}])
    got = await sidecar.expect("GET", f"{url}/{k}", 200)
    assert got.json() == {"n": 1}
    etag = got.headers["etag"]
    await sidecar.expect("GET", f"{url}/{missing}", 204)
    await sidecar.expect("PUT", url, 204, json=[])
    # state.redis: a stale etag loses with 409; an etag for a missing key creates it
    await sidecar.expect("POST", url, 204, json=[{"key": k, "value": 2, "etag": etag}])
    await sidecar.expect("POST", url, 409, "ERR_STATE_SAVE",
                         json=[{"key": k, "value": 3, "etag": etag}])
    created = sidecar.key("created")
    await sidecar.expect("POST", url, 204, json=[{"key": created, "value": 3, "etag": "1"}])
    assert (await sidecar.expect("GET", f"{url}/{created}", 200)).json() == 3
    await sidecar.expect("POST", url, 400, "ERR_STATE_SAVE",
                         json=[{"key": k, "value": 3, "etag": "not-a-version"}])
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST",
                         json=[{"key": k, "value": 3, "etag": 5}])
    # first-write on a key written last-write overwrites it; last-write ignores a stale etag
    await sidecar.expect("POST", url, 204, json=[
        {"key": k, "value": 4, "options": {"concurrency": "first-write"}}])
    plain = sidecar.key("plain")
    await sidecar.expect("POST", url, 204, json=[{"key": plain, "value": 1}])
    await sidecar.expect("POST", url, 204, json=[
        {"key": plain, "value": 2, "etag": "99", "options": {"concurrency": "last-write"}}])
    # a key written first-write refuses any write without its etag with a plain 500
    await sidecar.expect("POST", url, 500, "ERR_STATE_SAVE", json=[
        {"key": k, "value": 5, "options": {"concurrency": "first-write"}}])
    await sidecar.expect("POST", url, 500, "ERR_STATE_SAVE", json=[{"key": k, "value": 5}])
    current = (await sidecar.expect("GET", f"{url}/{k}", 200)).headers["etag"]
    await sidecar.expect("POST", url, 204, json=[{"key": k, "value": 5, "etag": current}])
    etag = current  # stale now
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST", content=b"{not json")
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST", json=[{"value": 1}])
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST",
                         json=[{"key": f"{k}||b", "value": 1}])
    await sidecar.expect("POST", "/v1.0/state/nope", 400, "ERR_STATE_STORE_NOT_FOUND", json=[])
    await sidecar.expect("GET", f"/v1.0/state/other-apps-store/{k}", 400,
                         "ERR_STATE_STORE_NOT_FOUND")
    # delete with a stale If-Match, then without
    await sidecar.expect("DELETE", f"{url}/{k}", 409, "ERR_STATE_DELETE",
                         headers={"If-Match": etag})
    await sidecar.expect("DELETE", f"{url}/{k}", 204)
    await sidecar.expect("GET", f"{url}/{k}", 204)


async def test_bulk_get_transaction_and_ttl(sidecar: Sidecar) -> None:
    url = "/v1.0/state/statestore"
    a, b, c, d, t = (sidecar.key(name) for name in "abcdt")
    await sidecar.expect("POST", url, 204, json=[
        {"key": a, "value": 1}, {"key": t, "value": "x", "metadata": {"ttlInSeconds": "10"}}])
    bulk = (await sidecar.expect("POST", f"{url}/bulk", 200,
                                 json={"keys": [a, b, t], "parallelism": 2})).json()
    assert [item["key"] for item in bulk] == [a, b, t]  # request order
    assert bulk[0]["data"] == 1 and "etag" in bulk[0]
    assert bulk[1] == {"key": b}

    ops = {"operations": [{"operation": "upsert", "request": {"key": c, "value": 3}},
                          {"operation": "delete", "request": {"key": a}}]}
    await sidecar.expect("POST", f"{url}/transaction", 204, json=ops)
    await sidecar.expect("GET", f"{url}/{a}", 204)
    # state.redis runs a transaction as MULTI/EXEC: a refused operation undoes nothing
    partial = {"operations": [{"operation": "upsert", "request": {"key": d, "value": 4}},
                              {"operation": "delete", "request": {"key": c, "etag": "999"}}]}
    await sidecar.expect("POST", f"{url}/transaction", 500, "ERR_STATE_TRANSACTION",
                         json=partial)
    assert (await sidecar.expect("GET", f"{url}/{d}", 200)).json() == 4
    assert (await sidecar.expect("GET", f"{url}/{c}", 200)).json() == 3
    await sidecar.expect("POST", f"{url}/transaction", 400, "ERR_NOT_SUPPORTED_STATE_OPERATION",
                         json={"operations": [{"operation": "merge", "request": {"key": c}}]})

    await sidecar.advance(10)  # the rest needs the local sidecar
    await sidecar.expect("GET", f"{url}/{t}", 204)  # expired


async def test_publish_rows(sidecar: Sidecar) -> None:
    url = "/v1.0/publish/pubsub"
    await sidecar.expect("POST", f"{url}/orders", 204, json={"n": 1})
    await sidecar.expect("PUT", f"{url}/sales", 204, json={"n": 1})
    await sidecar.expect("POST", f"{url}/orders", 500, "ERR_PUBSUB_CLOUD_EVENTS_SER",
                         content=b"{bad", headers={"content-type": "application/cloudevents+json"})
    await sidecar.expect("POST", f"{url}/refunds", 403, "ERR_PUBSUB_FORBIDDEN", json={})
    await sidecar.expect("POST", "/v1.0/publish/nope/orders", 404, "ERR_PUBSUB_NOT_FOUND",
                         json={})
    # daprd's router cleans the path to /publish/pubsub, which matches no route: its fallback,
    # service invocation, finds no app id (ERR_TOPIC_NAME_EMPTY is only reachable over gRPC)
    await sidecar.expect("POST", f"{url}/", 404, "ERR_DIRECT_INVOKE", json={})
    await sidecar.expect("POST", f"{url}/orders", 400, "ERR_PUBSUB_REQUEST_METADATA", json={},
                         params={"metadata.rawPayload": "maybe"})


async def test_the_cloudevent_envelope(sidecar: Sidecar) -> None:
    url = "/v1.0/publish/pubsub"
    published = sidecar.published
    await sidecar.expect("POST", f"{url}/orders", 204, json={"n": 1},
                         params={"metadata.cloudevent.id": "order-1"})
    envelope = published[-1].body
    assert envelope["id"] == "order-1"
    assert envelope["data"] == {"n": 1}
    assert envelope["datacontenttype"] == "application/json"
    assert (envelope["topic"], envelope["pubsubname"], envelope["source"]) == (
        "orders", "pubsub", "app-a")
    assert envelope["specversion"] == "1.0" and envelope["type"] == "com.dapr.event.sent"

    await sidecar.expect("POST", f"{url}/orders", 204, content=b'{"n": 2}',
                         headers={"content-type": ""})
    assert published[-1].body["data"] == '{"n": 2}'  # no Content-Type: a string

    own = {"id": "mine", "specversion": "1.0", "source": "s", "type": "t", "topic": "x",
           "data": {}}
    await sidecar.expect("PUT", f"{url}/sales", 204, json=own,
                         headers={"content-type": "application/cloudevents+json"})
    passed = published[-1].body
    assert (passed["id"], passed["topic"], passed["pubsubname"]) == ("mine", "sales", "pubsub")

    await sidecar.expect("POST", f"{url}/orders", 204, content=b"\x00raw",
                         params={"metadata.rawPayload": "true"})
    assert (published[-1].raw, published[-1].body) == (True, b"\x00raw")  # no envelope


async def test_bulk_publish_rows(sidecar: Sidecar) -> None:
    url = "/v1.0-alpha1/publish/bulk/pubsub/orders"
    entries = [{"entryId": "1", "event": {"n": 1}, "contentType": "application/json"},
               {"entryId": "2", "event": "text", "contentType": "text/plain"}]
    await sidecar.expect("POST", url, 204, json=entries)
    await sidecar.expect("POST", url, 400, "ERR_PUBSUB_EVENTS_SER",
                         json=[{"entryId": "1", "event": 1}, {"entryId": "1", "event": 2}])
    await sidecar.expect("POST", url, 400, "ERR_PUBSUB_EVENTS_SER", json=[{"event": 1}])
    assert [p.body["data"] for p in sidecar.published[-2:]] == [{"n": 1}, "text"]


@pytest.mark.skipif(bool(EXTERNAL), reason="the local sidecar, started with no components")
async def test_no_components_at_all() -> None:
    app, _ = build([], FakeClock())
    transport = httpx.ASGITransport(app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as client:
        sidecar = Sidecar(client, app, None, FakeClock())
        # daprd's pub/sub adapter always exists, so no pub/sub at all is an unknown one
        await sidecar.expect("POST", "/v1.0/publish/p/t", 404, "ERR_PUBSUB_NOT_FOUND",
                             json={})
        await sidecar.expect("POST", "/v1.0/publish/bulk/p/t", 404, "ERR_PUBSUB_NOT_FOUND",
                             json=[])
        await sidecar.expect("GET", "/v1.0/state/s/k", 500, "ERR_STATE_STORE_NOT_CONFIGURED")


async def test_malformed_state_items(sidecar: Sidecar) -> None:
    """Go decodes metadata into map[string]string and TTLs with Atoi: anything else is refused
    with daprd's codes, never a 500 from a crash."""
    url = "/v1.0/state/statestore"
    k = sidecar.key("m")
    for bad in ({"metadata": [1]}, {"metadata": {"ttlInSeconds": 5}}, {"options": "x"},
                {"contentType": ["a"]}):
        await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST",
                             json=[{"key": k, "value": 1, **bad}])
        await sidecar.expect("POST", f"{url}/transaction", 400, "ERR_MALFORMED_REQUEST",
                             json={"operations": [{"operation": "upsert",
                                                   "request": {"key": k, "value": 1, **bad}}]})
    for ttl in ("1.5", "nan", "1e400"):
        meta = {"metadata": {"ttlInSeconds": ttl}}
        await sidecar.expect("POST", url, 500, "ERR_STATE_SAVE",
                             json=[{"key": k, "value": 1, **meta}])
        await sidecar.expect("POST", f"{url}/transaction", 500, "ERR_STATE_TRANSACTION",
                             json={"operations": [{"operation": "upsert",
                                                   "request": {"key": k, "value": 1, **meta}}]})
    await sidecar.expect("GET", f"{url}/{k}", 204)  # nothing was written


async def test_the_envelope_carries_traceid_equal_to_traceparent(sidecar: Sidecar) -> None:
    url = "/v1.0/publish/pubsub/orders"
    published = sidecar.published
    await sidecar.expect("POST", url, 204, json={"n": 1})
    plain = published[-1].body
    assert plain["traceid"] == plain["traceparent"] == ""  # no tracing: empty, both present
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await sidecar.expect("POST", url, 204, json={"n": 2},
                         params={"metadata.cloudevent.traceparent": parent})
    assert published[-1].body["traceid"] == published[-1].body["traceparent"] == parent
    await sidecar.expect("POST", url, 204, json={"n": 3},
                         params={"metadata.cloudevent.traceid": parent,
                                 "metadata.CloudEvent.TraceState": "k=v"})
    overridden = published[-1].body
    assert (overridden["traceid"], overridden["traceparent"]) == (parent, parent)
    assert overridden["tracestate"] == "k=v"  # mapstructure matches the key in any case
    # a client's own envelope keeps its trace fields; one without traceid gets both
    own = {"specversion": "1.0", "source": "s", "type": "t", "traceid": "mine", "data": {}}
    await sidecar.expect("POST", url, 204, json=own,
                         headers={"content-type": "application/cloudevents+json"})
    passed = published[-1].body
    assert passed["traceid"] == "mine" and "traceparent" not in passed
    assert "id" not in passed  # nor is an id added to a client's envelope
    await sidecar.expect("POST", url, 204, json={**own, "traceid": None} | {"id": "x"},
                         headers={"content-type": "application/cloudevents+json"})
    assert published[-1].body["traceid"] is None  # present, so kept
    bare = {"id": "y", "traceparent": "client", "data": {}}
    await sidecar.expect("POST", url, 204, json=bare,
                         headers={"content-type": "application/cloudevents+json"})
    assert published[-1].body["traceid"] == published[-1].body["traceparent"] == ""
