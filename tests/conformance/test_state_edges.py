"""State and publish rows where Go's zero values and daprd's routes decide the answer."""

from __future__ import annotations

from urllib.parse import quote

from .harness import Sidecar

STATE = "/v1.0/state/statestore"


async def test_an_empty_body_is_an_empty_list(sidecar: Sidecar) -> None:
    """Go decodes a missing (or null) list to an empty one; a list of the wrong type is 400."""
    assert (await sidecar.expect("POST", f"{STATE}/bulk", 200, json={})).json() == []
    assert (await sidecar.expect("POST", f"{STATE}/bulk", 200, json={"keys": None})).json() == []
    await sidecar.expect("POST", f"{STATE}/bulk", 400, "ERR_MALFORMED_REQUEST", json={"keys": 0})
    await sidecar.expect("POST", f"{STATE}/transaction", 204, json={})
    await sidecar.expect("POST", f"{STATE}/transaction", 400, "ERR_MALFORMED_REQUEST",
                         json={"operations": {}})


async def test_delete_etags_follow_state_redis(sidecar: Sidecar) -> None:
    key = sidecar.key("delete-etags")
    await sidecar.expect("POST", STATE, 204, json=[{"key": key, "value": 1}])
    # not an integer: state.redis's ETagInvalid, 400; a missing key: nothing to check, 204
    await sidecar.expect("DELETE", f"{STATE}/{key}", 400, "ERR_STATE_DELETE",
                         headers={"If-Match": "abc"})
    await sidecar.expect("DELETE", f"{STATE}/{key}", 409, "ERR_STATE_DELETE",
                         headers={"If-Match": "7"})
    await sidecar.expect("DELETE", f"{STATE}/{sidecar.key('never')}", 204,
                         headers={"If-Match": "7"})
    await sidecar.expect("DELETE", f"{STATE}/{key}", 204, headers={"If-Match": "1"})
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
