"""State and publish rows where Go's zero values and daprd's routes decide the answer."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import httpx
import pytest

from kugel_common.dapr.sidecar import Component
from kugel_common.dapr.sidecar._gojson import MAX_DEPTH
from kugel_common.dapr.sidecar._state import Write
from kugel_common.testing import FakeClock

from .harness import Sidecar, build

STATE = "/v1.0/state/statestore"


async def test_an_empty_body_is_an_empty_list(sidecar: Sidecar) -> None:
    """Go decodes a missing (or null) list to an empty one; a list of the wrong type is 400."""
    assert (await sidecar.expect("POST", f"{STATE}/bulk", 200, json={})).json() == []
    assert (await sidecar.expect("POST", f"{STATE}/bulk", 200, json={"keys": None})).json() == []
    await sidecar.expect("POST", f"{STATE}/bulk", 400, "ERR_MALFORMED_REQUEST", json={"keys": 0})
    await sidecar.expect("POST", f"{STATE}/transaction", 204, json={})
    await sidecar.expect("POST", f"{STATE}/transaction", 400, "ERR_MALFORMED_REQUEST",
                         json={"operations": {}})


async def test_a_null_body_is_the_zero_value(sidecar: Sidecar) -> None:
    """Go's decoder reads a top-level null into an empty slice or struct without error, so
    each handler goes on with nothing to do (http.go: onPostState, onBulkGetState,
    onPostStateTransaction, onBulkPublish)."""
    await sidecar.expect("POST", STATE, 204, content=b"null")
    assert (await sidecar.expect("POST", f"{STATE}/bulk", 200, content=b"null")).json() == []
    await sidecar.expect("POST", f"{STATE}/transaction", 204, content=b"null")
    await sidecar.expect("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", 204,
                         content=b"null")


async def test_operations_are_decoded_before_any_is_checked(sidecar: Sidecar) -> None:
    """A null operation is an empty one, of the unsupported type ""; one that is not an
    object, or whose type is not a string, fails Go's decoding of the whole body."""
    url = f"{STATE}/transaction"
    await sidecar.expect("POST", url, 400, "ERR_NOT_SUPPORTED_STATE_OPERATION",
                         json={"operations": [None]})
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST", json={"operations": [1]})
    await sidecar.expect("POST", url, 400, "ERR_MALFORMED_REQUEST",
                         json={"operations": [{"operation": "x"}, {"operation": 1}]})


async def test_delete_etags_follow_state_redis(sidecar: Sidecar) -> None:
    key = sidecar.key("delete-etags")
    await sidecar.expect("POST", STATE, 204, json=[{"key": key, "value": 1}])
    # state.redis compares a delete's etag as text, unparsed: any other one is a mismatch
    # (409), and a missing key has nothing to check (204)
    await sidecar.expect("DELETE", f"{STATE}/{key}", 409, "ERR_STATE_DELETE",
                         headers={"If-Match": "abc"})
    await sidecar.expect("DELETE", f"{STATE}/{key}", 409, "ERR_STATE_DELETE",
                         headers={"If-Match": "7"})
    await sidecar.expect("DELETE", f"{STATE}/{sidecar.key('never')}", 204,
                         headers={"If-Match": "7"})
    await sidecar.expect("DELETE", f"{STATE}/{key}", 204, headers={"If-Match": "1"})
    await sidecar.expect("GET", f"{STATE}/{key}", 204)
    # "0" is what daprd sends for no etag at all: it deletes whatever the version
    await sidecar.expect("POST", STATE, 204, json=[{"key": key, "value": 1}])
    await sidecar.expect("DELETE", f"{STATE}/{key}", 204, headers={"If-Match": "0"})
    await sidecar.expect("GET", f"{STATE}/{key}", 204)


async def test_any_key_that_can_be_saved_can_be_read_and_deleted(sidecar: Sidecar) -> None:
    key = sidecar.key("line\nbreak/and slash")
    await sidecar.expect("POST", STATE, 204, json=[{"key": key, "value": "kept"}])
    path = f"{STATE}/{quote(key, safe='')}"
    assert (await sidecar.expect("GET", path, 200)).json() == "kept"
    await sidecar.expect("DELETE", path, 204)
    await sidecar.expect("GET", path, 204)


async def test_bulk_publish_is_served_on_the_stable_path_too(sidecar: Sidecar) -> None:
    entries = [{"entryId": "1", "event": {"n": 1}, "contentType": "application/json"}]
    await sidecar.expect("POST", "/v1.0/publish/bulk/pubsub/orders", 204, json=entries)
    assert sidecar.published[-1].body["data"] == {"n": 1}


async def test_a_save_of_several_items_writes_each_on_its_own(sidecar: Sidecar) -> None:
    """daprd's bulk set runs each item's Set in parallel and joins their errors: the other
    items are written, and an etag error among the errors decides the status."""
    first, fresh, other = (sidecar.key(name) for name in ("bulk-fw", "bulk-fresh", "bulk-other"))
    await sidecar.expect("POST", STATE, 204, json=[
        {"key": first, "value": 1, "options": {"concurrency": "first-write"}}])
    await sidecar.expect("POST", STATE, 409, "ERR_STATE_SAVE", json=[
        {"key": first, "value": 2}, {"key": fresh, "value": 1},  # a plain refusal: 500 alone
        {"key": first, "value": 3, "etag": "9"}])
    assert (await sidecar.expect("GET", f"{STATE}/{fresh}", 200)).json() == 1
    await sidecar.expect("POST", STATE, 400, "ERR_STATE_SAVE", json=[
        {"key": other, "value": 1}, {"key": fresh, "value": 2, "etag": "not-a-version"}])
    assert (await sidecar.expect("GET", f"{STATE}/{other}", 200)).json() == 1
    await sidecar.expect("POST", STATE, 500, "ERR_STATE_SAVE", json=[
        {"key": first, "value": 4}, {"key": other, "value": 5}])
    assert (await sidecar.expect("GET", f"{STATE}/{other}", 200)).json() == 5
    assert (await sidecar.expect("GET", f"{STATE}/{first}", 200)).json() == 1


async def test_a_transaction_runs_every_command_of_its_multi(sidecar: Sidecar) -> None:
    """MULTI/EXEC runs each queued command whatever the others answer; only a save etag that
    is not an integer stops the transaction before MULTI."""
    kept, untouched, marked = (sidecar.key(n) for n in ("tx-kept", "tx-none", "tx-fw"))
    url = f"{STATE}/transaction"
    await sidecar.expect("POST", STATE, 204, json=[{"key": kept, "value": 1}])
    # a refused upsert's EXPIRE was queued after its script: it still runs
    await sidecar.expect("POST", url, 500, "ERR_STATE_TRANSACTION", json={"operations": [
        {"operation": "upsert", "request": {"key": kept, "value": 2, "etag": "5",
                                            "metadata": {"ttlInSeconds": "10"}}}]})
    assert (await sidecar.expect("GET", f"{STATE}/{kept}", 200)).json() == 1
    await sidecar.expect("POST", url, 500, "ERR_STATE_TRANSACTION", json={"operations": [
        {"operation": "upsert", "request": {"key": untouched, "value": 1}},
        {"operation": "upsert", "request": {"key": marked, "value": 1, "etag": "x"}}]})
    await sidecar.expect("GET", f"{STATE}/{untouched}", 204)
    # first-write inside a transaction does not mark the key: its script gets no such flag
    await sidecar.expect("POST", url, 204, json={"operations": [
        {"operation": "upsert", "request": {"key": marked, "value": 1,
                                            "options": {"concurrency": "first-write"}}}]})
    await sidecar.expect("POST", STATE, 204, json=[{"key": marked, "value": 2}])
    await sidecar.advance(10)
    await sidecar.expect("GET", f"{STATE}/{kept}", 204)  # the refused upsert's TTL


class _BrokenStore:
    """A store whose backend fails in a way the sidecar does not expect."""

    backend = "redis"

    async def get(self, key: str) -> tuple[bytes, str] | None:
        raise OSError("connection reset by peer")

    async def apply(self, writes: Sequence[Write], *, transaction: bool = False) -> None:
        raise ConnectionResetError

    async def aclose(self) -> None:
        return None


async def test_an_unexpected_failure_names_no_python_exception() -> None:
    """The catch-all's 500 says where to look, not what Python raised."""
    component = Component("statestore", "state.redis")
    app, _ = build([component], FakeClock(), stores={"statestore": _BrokenStore()})
    transport = httpx.ASGITransport(app.asgi, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar",
                                 headers={"dapr-api-token": app.api_token or ""}) as client:
        for answer in (await client.get(f"{STATE}/k"),
                       await client.post(STATE, json=[{"key": "k", "value": 1}])):
            assert answer.status_code == 500
            assert answer.json()["errorCode"] == "ERR_INTERNAL"
            assert "Error" not in answer.json()["message"]


async def test_json_deeper_than_the_limit_is_treated_as_daprd_treats_json_it_cannot_read(
        sidecar: Sidecar) -> None:
    """Past MAX_DEPTH (daprd: 10 000) a body is JSON the decoder refuses: a 400 where the
    body must decode, and for a single application/json publish the event's ``data`` is the
    body as text, as NewCloudEventsEnvelope falls back to (components-contrib
    pubsub/envelope.go); a cloudevents+json body is a 500, as FromCloudEvent fails."""
    if not sidecar.local:
        pytest.skip("daprd reads these depths as JSON")
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    fits = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    key = sidecar.key("deep")
    await sidecar.expect("POST", STATE, 400, "ERR_MALFORMED_REQUEST",
                         content=b'[{"key":"%s","value":%s}]' % (key.encode(), deep[2:-2]))
    await sidecar.expect("POST", f"{STATE}/transaction", 400, "ERR_MALFORMED_REQUEST",
                         content=b'{"operations":%s}' % deep[1:-1])
    await sidecar.expect("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", 400,
                         "ERR_PUBSUB_EVENTS_SER", content=deep)
    json_type = {"content-type": "application/json"}
    await sidecar.expect("POST", "/v1.0/publish/pubsub/orders", 204, content=deep,
                         headers=json_type)
    assert sidecar.published[-1].body["data"] == deep.decode()
    await sidecar.expect("POST", "/v1.0/publish/pubsub/orders", 204, content=fits,
                         headers=json_type)
    assert isinstance(sidecar.published[-1].body["data"], list)
    await sidecar.expect("POST", "/v1.0/publish/pubsub/orders", 500,
                         "ERR_PUBSUB_CLOUD_EVENTS_SER", content=b'{"data":%s}' % deep,
                         headers={"content-type": "application/cloudevents+json"})
