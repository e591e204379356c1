"""daprd's transactional outbox (shared/dapr-outbox.md), row by row.

The status codes hold on a real daprd too; what was published, and the marker keys, are looked
at inside the local sidecar only.
"""

from __future__ import annotations

from typing import Any

from .harness import Sidecar


def upsert(key: str, value: Any, **request: Any) -> dict[str, Any]:
    return {"operation": "upsert", "request": {"key": key, "value": value, **request}}


def transaction(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"operations": list(operations)}


async def test_each_upsert_publishes_an_intent_and_commits_a_marker(sidecar: Sidecar) -> None:
    url = "/v1.0/state/outboxstore"
    k, gone = sidecar.key("order"), sidecar.key("gone")
    await sidecar.expect("POST", url, 204, json=[{"key": gone, "value": 0}])
    before = len(sidecar.published) if sidecar.local else 0
    meta = {"type": "order.created", "subject": "o-1", "cloudevent.type": "kept", "id": "mine"}
    await sidecar.expect("POST", f"{url}/transaction", 204, json=transaction(
        upsert(k, {"n": 1}, contentType="application/json", metadata=meta),
        {"operation": "delete", "request": {"key": gone}}),
        headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    assert (await sidecar.expect("GET", f"{url}/{k}", 200)).json() == {"n": 1}
    await sidecar.expect("GET", f"{url}/{gone}", 204)

    intents = sidecar.published[before:]
    assert len(intents) == 1  # one per upsert; the delete publishes nothing
    intent = intents[0]
    # NAMESPACE unset: daprd's runtime namespace is "default", and begins the topic
    assert (intent.pubsub, intent.topic) == ("outbox-internal", "defaultapp-aordersoutbox")
    event = intent.body
    assert event["id"].startswith("outbox-")  # the marker key: metadata cannot override it
    assert (event["type"], event["subject"], event["cloudevent.type"]) == (
        "order.created", "o-1", "kept")  # metadata is copied verbatim, prefix and all
    assert (event["data"], event["datacontenttype"]) == ({"n": 1}, "application/json")
    assert (event["source"], event["specversion"]) == ("app-a", "1.0")
    assert event["traceid"].startswith("00-4bf92f35") and event["traceparent"] == ""
    marker = await sidecar.app.stores["outboxstore"].get(event["id"])  # not app-prefixed
    assert marker is not None


async def test_data_encoding_and_projections(sidecar: Sidecar) -> None:
    url = "/v1.0/state/outboxstore"
    k, other = sidecar.key("p"), sidecar.key("unmatched")
    before = len(sidecar.published) if sidecar.local else 0
    projection = {"metadata": {"outbox.projection": "true"}, "contentType": "application/json"}
    await sidecar.expect("POST", f"{url}/transaction", 204, json=transaction(
        upsert(k, "2"), upsert(k, {"summary": 3}, **projection),
        upsert(other, 9, **projection),  # no upsert of its key: dropped without a word
        upsert(sidecar.key("plain"), {"b": "x", "a": 1.0})))
    assert (await sidecar.expect("GET", f"{url}/{k}", 200)).json() == "2"  # the save
    await sidecar.expect("GET", f"{url}/{other}", 204)  # a projection is never saved
    events = [p.body for p in sidecar.published[before:]]
    assert [(e["data"], e["datacontenttype"]) for e in events] == [
        ({"summary": 3}, "application/json"),  # the projection is what is published
        ("map[a:1 b:x]", "text/plain")]  # no contentType: Go's %v of the object


async def test_a_refused_intent_fails_the_transaction_and_writes_nothing(
        sidecar: Sidecar) -> None:
    for store in ("outbox-refused-store", "outbox-nowhere-store"):
        k = sidecar.key(store)
        await sidecar.expect("POST", f"/v1.0/state/{store}/transaction", 500,
                             "ERR_PUBLISH_OUTBOX", json=transaction(upsert(k, 1)))
        await sidecar.expect("GET", f"/v1.0/state/{store}/{k}", 204)


async def test_a_broker_outage_fails_the_transaction_and_writes_nothing(
        sidecar: Sidecar) -> None:
    url = "/v1.0/state/outboxstore"
    k = sidecar.key("down")
    sidecar.published.down = True
    await sidecar.expect("POST", f"{url}/transaction", 500, "ERR_PUBLISH_OUTBOX",
                         json=transaction(upsert(k, 1)))
    sidecar.published.down = False
    await sidecar.expect("GET", f"{url}/{k}", 204)


async def test_a_failed_commit_on_state_redis_still_writes_its_marker(sidecar: Sidecar) -> None:
    """The intent goes out before the commit, and MULTI/EXEC does not roll back: an upsert
    whose etag check fails leaves the other writes, the marker among them, so the event is
    published for a transaction that answered 500."""
    url = "/v1.0/state/outboxstore"
    k = sidecar.key("stale")
    await sidecar.expect("POST", url, 204, json=[{"key": k, "value": 1}])
    before = len(sidecar.published) if sidecar.local else 0
    await sidecar.expect("POST", f"{url}/transaction", 500, "ERR_STATE_TRANSACTION",
                         json=transaction(upsert(k, 2, etag="999")))
    assert (await sidecar.expect("GET", f"{url}/{k}", 200)).json() == 1
    [intent] = sidecar.published[before:]
    assert await sidecar.app.stores["outboxstore"].get(intent.body["id"]) is not None


async def test_only_transactions_on_a_configured_store_publish(sidecar: Sidecar) -> None:
    before = len(sidecar.published) if sidecar.local else 0
    await sidecar.expect("POST", "/v1.0/state/outboxstore", 204,
                         json=[{"key": sidecar.key("single"), "value": 1}])
    await sidecar.expect("POST", "/v1.0/state/outbox-half-store/transaction", 204,
                         json=transaction(upsert(sidecar.key("half"), 1)))
    await sidecar.expect("POST", "/v1.0/state/statestore/transaction", 204,
                         json=transaction(upsert(sidecar.key("plain"), 1)))
    assert sidecar.published[before:] == []
