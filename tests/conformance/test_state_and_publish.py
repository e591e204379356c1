"""Rows of shared/dapr-http-api.md, asserted on status codes and errorCodes, never messages.

The suite talks plain HTTP through the `sidecar` fixture, so it can be pointed at a real daprd.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kugel_common.dapr.sidecar import Component, Published, SidecarApp, StateStore
from kugel_common.testing import FakeClock

TOKEN = "conformance-token"


class Sidecar:
    def __init__(self, client: httpx.AsyncClient, published: list[Published],
                 clock: FakeClock) -> None:
        self.client, self.published, self.clock = client, published, clock

    async def expect(self, method: str, path: str, status: int, code: str | None = None,
                     **kwargs: Any) -> httpx.Response:
        headers = {"dapr-api-token": TOKEN, **kwargs.pop("headers", {})}
        response = await self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == status, response.text
        if code is not None:
            assert response.json()["errorCode"] == code
        return response


def build(components: list[Component], clock: FakeClock) -> tuple[SidecarApp, list[Published]]:
    published: list[Published] = []
    stores = {c.name: StateStore(clock.now) for c in components if c.kind == "state"}
    app = SidecarApp("app-a", components, stores, published.append, api_token=TOKEN,
                     clock=clock.now)
    return app, published


@pytest.fixture
async def sidecar() -> AsyncIterator[Sidecar]:
    clock = FakeClock()
    app, published = build([
        Component("statestore", "state.in-memory"),
        Component("pubsub", "pubsub.in-memory", metadata={"allowedTopics": "orders,sales"}),
        Component("other-apps-store", "state.in-memory", scopes=("app-b",)),
    ], clock)
    transport = httpx.ASGITransport(app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as client:
        yield Sidecar(client, published, clock)


async def test_api_token_is_enforced_except_on_health(sidecar: Sidecar) -> None:
    response = await sidecar.client.get("/v1.0/metadata")
    assert response.status_code == 401
    assert response.text == "invalid api token"
    assert response.headers["content-type"].startswith("text/plain")
    for path in ("/v1.0/healthz", "/v1.0/healthz/outbound"):
        assert (await sidecar.client.get(path)).status_code == 204
    metadata = (await sidecar.expect("GET", "/v1.0/metadata", 200)).json()
    assert metadata["id"] == "app-a"
    assert {c["name"] for c in metadata["components"]} == {"statestore", "pubsub"}  # scopes


async def test_state_rows(sidecar: Sidecar) -> None:
    url = "/v1.0/state/statestore"
    await sidecar.expect("POST", url, 204, json=[{"key": "k", "value": {"n": 1}}])
    got = await sidecar.expect("GET", f"{url}/k", 200)
    assert got.json() == {"n": 1}
    etag = got.headers["etag"]
    await sidecar.expect("GET", f"{url}/missing", 204)
    await sidecar.expect("PUT", url, 204, json=[])
    # etags: a stale one, one for a missing key, and first-write on an existing key all lose
    await sidecar.expect("POST", url, 204, json=[{"key": "k", "value": 2, "etag": etag}])
    await sidecar.expect("POST", url, 409, "ERR_STATE_SAVE",
                         json=[{"key": "k", "value": 3, "etag": etag}])
    await sidecar.expect("POST", url, 409, "ERR_STATE_SAVE",
                         json=[{"key": "nope", "value": 3, "etag": "1"}])
    await sidecar.expect("POST", url, 409, "ERR_STATE_SAVE", json=[
        {"key": "k", "value": 3, "options": {"concurrency": "first-write"}}])
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST",
                         json=[{"key": "k", "value": 3, "etag": 5}])
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST", content=b"{not json")
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST", json=[{"value": 1}])
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST",
                         json=[{"key": "a||b", "value": 1}])
    await sidecar.expect("POST", "/v1.0/state/nope", 400, "ERR_STATE_STORE_NOT_FOUND", json=[])
    await sidecar.expect("GET", "/v1.0/state/other-apps-store/k", 400,
                         "ERR_STATE_STORE_NOT_FOUND")
    # delete with a stale If-Match, then without
    await sidecar.expect("DELETE", f"{url}/k", 409, "ERR_STATE_DELETE",
                         headers={"If-Match": etag})
    await sidecar.expect("DELETE", f"{url}/k", 204)
    await sidecar.expect("GET", f"{url}/k", 204)


async def test_bulk_get_transaction_and_ttl(sidecar: Sidecar) -> None:
    url = "/v1.0/state/statestore"
    await sidecar.expect("POST", url, 204, json=[
        {"key": "a", "value": 1}, {"key": "t", "value": "x", "metadata": {"ttlInSeconds": "10"}}])
    bulk = (await sidecar.expect("POST", f"{url}/bulk", 200,
                                 json={"keys": ["a", "b", "t"], "parallelism": 2})).json()
    assert [item["key"] for item in bulk] == ["a", "b", "t"]  # request order
    assert bulk[0]["data"] == 1 and "etag" in bulk[0]
    assert bulk[1] == {"key": "b"}
    sidecar.clock.advance(10)
    await sidecar.expect("GET", f"{url}/t", 204)  # expired

    ops = {"operations": [{"operation": "upsert", "request": {"key": "c", "value": 3}},
                          {"operation": "delete", "request": {"key": "a"}}]}
    await sidecar.expect("POST", f"{url}/transaction", 204, json=ops)
    await sidecar.expect("GET", f"{url}/a", 204)
    atomic = {"operations": [{"operation": "upsert", "request": {"key": "d", "value": 4}},
                             {"operation": "delete", "request": {"key": "c", "etag": "999"}}]}
    await sidecar.expect("POST", f"{url}/transaction", 500, "ERR_STATE_TRANSACTION", json=atomic)
    await sidecar.expect("GET", f"{url}/d", 204)  # nothing applied
    await sidecar.expect("POST", f"{url}/transaction", 400, "ERR_NOT_SUPPORTED_STATE_OPERATION",
                         json={"operations": [{"operation": "merge", "request": {"key": "c"}}]})


async def test_publish_rows_and_the_envelope(sidecar: Sidecar) -> None:
    url = "/v1.0/publish/pubsub"
    await sidecar.expect("POST", f"{url}/orders", 204, json={"n": 1},
                         params={"metadata.cloudevent.id": "order-1"})
    envelope = sidecar.published[-1].body
    assert envelope["id"] == "order-1"
    assert envelope["data"] == {"n": 1}
    assert envelope["datacontenttype"] == "application/json"
    assert (envelope["topic"], envelope["pubsubname"], envelope["source"]) == (
        "orders", "pubsub", "app-a")
    assert envelope["specversion"] == "1.0" and envelope["type"] == "com.dapr.event.sent"

    await sidecar.expect("POST", f"{url}/orders", 204, content=b'{"n": 2}',
                         headers={"content-type": ""})
    assert sidecar.published[-1].body["data"] == '{"n": 2}'  # no Content-Type: a string

    own = {"id": "mine", "specversion": "1.0", "source": "s", "type": "t", "topic": "x",
           "data": {}}
    await sidecar.expect("PUT", f"{url}/sales", 204, json=own,
                         headers={"content-type": "application/cloudevents+json"})
    passed = sidecar.published[-1].body
    assert (passed["id"], passed["topic"], passed["pubsubname"]) == ("mine", "sales", "pubsub")

    await sidecar.expect("POST", f"{url}/orders", 500, "ERR_PUBSUB_CLOUD_EVENTS_SER",
                         content=b"{bad", headers={"content-type": "application/cloudevents+json"})
    await sidecar.expect("POST", f"{url}/refunds", 403, "ERR_PUBSUB_FORBIDDEN", json={})
    await sidecar.expect("POST", "/v1.0/publish/nope/orders", 404, "ERR_PUBSUB_NOT_FOUND",
                         json={})
    await sidecar.expect("POST", f"{url}/", 404, "ERR_TOPIC_NAME_EMPTY", json={})
    await sidecar.expect("POST", f"{url}/orders", 400, "ERR_PUBSUB_REQUEST_METADATA", json={},
                         params={"metadata.rawPayload": "maybe"})


async def test_bulk_publish_rows(sidecar: Sidecar) -> None:
    url = "/v1.0-alpha1/publish/bulk/pubsub/orders"
    entries = [{"entryId": "1", "event": {"n": 1}, "contentType": "application/json"},
               {"entryId": "2", "event": "text", "contentType": "text/plain"}]
    before = len(sidecar.published)
    await sidecar.expect("POST", url, 204, json=entries)
    assert [p.body["data"] for p in sidecar.published[before:]] == [{"n": 1}, "text"]
    await sidecar.expect("POST", url, 400, "ERR_PUBSUB_EVENTS_SER",
                         json=[{"entryId": "1", "event": 1}, {"entryId": "1", "event": 2}])
    await sidecar.expect("POST", url, 400, "ERR_PUBSUB_EVENTS_SER", json=[{"event": 1}])


async def test_no_components_at_all() -> None:
    app, _ = build([], FakeClock())
    transport = httpx.ASGITransport(app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as client:
        sidecar = Sidecar(client, [], FakeClock())
        await sidecar.expect("POST", "/v1.0/publish/p/t", 400, "ERR_PUBSUB_NOT_CONFIGURED",
                             json={})
        await sidecar.expect("GET", "/v1.0/state/s/k", 500, "ERR_STATE_STORE_NOT_CONFIGURED")
