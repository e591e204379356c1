"""Request bodies are read by Go's encoding/json: field names match case-insensitively.

Only a struct's own field names fold; the keys of ``metadata`` (a Go map) are kept as sent.
"""

from __future__ import annotations

from .harness import Sidecar


async def test_state_bodies_match_field_names_in_any_case(sidecar: Sidecar) -> None:
    url = "/v1.0/state/statestore"
    k, other = sidecar.key("fold"), sidecar.key("fold-other")
    await sidecar.expect("POST", url, 204, json=[{"KEY": k, "Value": {"n": 1}}])
    got = await sidecar.expect("GET", f"{url}/{k}", 200)
    assert got.json() == {"n": 1}
    stale = got.headers["etag"]
    await sidecar.expect("PUT", url, 204, json=[{"Key": k, "VALUE": 2, "ETag": stale}])
    await sidecar.expect("POST", url, 409, "ERR_STATE_SAVE",
                         json=[{"key": k, "value": 3, "eTaG": stale}])
    await sidecar.expect("POST", url, 204, json=[  # last-write ignores the stale etag
        {"key": k, "value": 4, "etag": stale, "Options": {"CONCURRENCY": "last-write"}}])

    bulk = (await sidecar.expect("POST", f"{url}/bulk", 200,
                                 json={"KEYS": [k, other], "Parallelism": 2})).json()
    assert [(item["key"], item.get("data")) for item in bulk] == [(k, 4), (other, None)]

    ops = {"Operations": [{"Operation": "upsert", "Request": {"KEY": other, "vAlue": 5}},
                          {"OPERATION": "delete", "request": {"Key": k}}]}
    await sidecar.expect("POST", f"{url}/transaction", 204, json=ops)
    assert (await sidecar.expect("GET", f"{url}/{other}", 200)).json() == 5
    await sidecar.expect("GET", f"{url}/{k}", 204)
    # the operation's value is compared exactly: only field names fold
    await sidecar.expect("POST", f"{url}/transaction", 400, "ERR_NOT_SUPPORTED_STATE_OPERATION",
                         json={"operations": [{"operation": "UPSERT",
                                               "request": {"key": k, "value": 1}}]})


async def test_state_metadata_keys_do_not_fold(sidecar: Sidecar) -> None:
    """``ttlInSeconds`` is looked up in a Go map: ``TTLINSECONDS`` is another key, not a TTL."""
    url = "/v1.0/state/statestore"
    k = sidecar.key("not-a-ttl")
    await sidecar.expect("POST", url, 204, json=[
        {"key": k, "value": 1, "METADATA": {"TTLINSECONDS": "10"}}])
    await sidecar.advance(10)
    assert (await sidecar.expect("GET", f"{url}/{k}", 200)).json() == 1


async def test_bulk_publish_entries_match_field_names_in_any_case(sidecar: Sidecar) -> None:
    url = "/v1.0-alpha1/publish/bulk/pubsub/orders"
    entries = [{"entryID": "1", "Event": {"n": 1}, "CONTENTTYPE": "application/json"},
               {"EntryId": "2", "event": "text", "contentType": "text/plain",
                "Metadata": {"cloudevent.id": "two"}}]
    await sidecar.expect("POST", url, 204, json=entries)
    # two spellings of one id are one field, so a repeat of another entry's id is still caught
    await sidecar.expect("POST", url, 400, "ERR_PUBSUB_EVENTS_SER", json=[
        {"entryId": "1", "event": 1, "contentType": "application/json"},
        {"ENTRYID": "1", "event": 2, "contentType": "application/json"}])
    published = sidecar.published[-2:]
    assert [p.body["data"] for p in published] == [{"n": 1}, "text"]
    assert published[1].body["id"] == "two"


async def test_of_two_spellings_of_one_field_the_later_wins(sidecar: Sidecar) -> None:
    """Go assigns the keys of an object in order: ``{"key": a, "KEY": b}`` saves ``b``."""
    url = "/v1.0/state/statestore"
    first, second = sidecar.key("first"), sidecar.key("second")
    await sidecar.expect("POST", url, 204, json=[{"key": first, "KEY": second, "value": 1}])
    await sidecar.expect("GET", f"{url}/{first}", 204)
    assert (await sidecar.expect("GET", f"{url}/{second}", 200)).json() == 1
    sidecar.published.down = True  # the failed entries name the ids the sidecar read
    failed = await sidecar.expect("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", 500,
                                  "ERR_PUBSUB_PUBLISH_MESSAGE", json=[
        {"entryId": "a", "ENTRYID": "b", "event": 1, "contentType": "application/json"},
        {"entryId": "c", "event": 2, "contentType": "application/json"}])
    assert [entry["entryId"] for entry in failed.json()["failedEntries"]] == ["b", "c"]
