"""State rows where daprd's handlers (dapr pkg/api/http/http.go) and state.redis
(components-contrib v1.18.4 state/redis/redis.go) decide: query metadata, transaction
metadata, request options, the bytes a value is stored as, and keys in the path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .harness import Sidecar

STATE = "/v1.0/state/statestore"


async def test_query_metadata_is_merged_into_every_saved_item(sidecar: Sidecar) -> None:
    """onPostState: ``maps.Copy(item.Metadata, query)``: the query wins over the item."""
    a, b = sidecar.key("qa"), sidecar.key("qb")
    await sidecar.expect("POST", STATE, 204, params={"metadata.ttlInSeconds": "10"}, json=[
        {"key": a, "value": 1}, {"key": b, "value": 2, "metadata": {"ttlInSeconds": "100"}}])
    await sidecar.advance(10)
    await sidecar.expect("GET", f"{STATE}/{a}", 204)
    await sidecar.expect("GET", f"{STATE}/{b}", 204)  # 10 s, not the item's 100
    await sidecar.expect("POST", STATE, 500, "ERR_STATE_SAVE", json=[{"key": a, "value": 1}],
                         params={"metadata.ttlInSeconds": "soon"})


async def test_transaction_metadata_only_from_the_query_reaches_operations(
        sidecar: Sidecar) -> None:
    """onPostStateTransaction merges the query into each operation; the body's own metadata
    goes to Multi as a whole, where state.redis reads only contentType (for RedisJSON)."""
    url = f"{STATE}/transaction"
    body_only, queried = sidecar.key("tx-body"), sidecar.key("tx-query")
    await sidecar.expect("POST", url, 204, json={
        "metadata": {"ttlInSeconds": "10"},
        "operations": [{"operation": "upsert", "request": {"key": body_only, "value": 1}}]})
    await sidecar.expect("POST", url, 204, params={"metadata.ttlInSeconds": "10"}, json={
        "operations": [{"operation": "upsert", "request": {
            "key": queried, "value": 1, "metadata": {"ttlInSeconds": "100"}}}]})
    await sidecar.advance(10)
    assert (await sidecar.expect("GET", f"{STATE}/{body_only}", 200)).json() == 1
    await sidecar.expect("GET", f"{STATE}/{queried}", 204)
    # a bad TTL fails the upserts it reaches; a delete does not read it
    await sidecar.expect("POST", url, 500, "ERR_STATE_TRANSACTION",
                         params={"metadata.ttlInSeconds": "x"},
                         json={"operations": [{"operation": "upsert",
                                               "request": {"key": queried, "value": 1}}]})
    await sidecar.expect("POST", url, 204, params={"metadata.ttlInSeconds": "x"},
                         json={"operations": [{"operation": "delete",
                                               "request": {"key": body_only}}]})
    await sidecar.expect("GET", f"{STATE}/{body_only}", 204)


@pytest.mark.parametrize(("path", "body"), [
    ("transaction", {"operations": [], "metadata": {"k": 1}}),
    ("transaction", {"operations": [], "metadata": []}),
    ("bulk", {"keys": [], "metadata": {"k": True}}),
    ("bulk", {"keys": ["k"], "parallelism": "2"}),
    ("bulk", {"keys": ["k"], "parallelism": 1.5}),
    ("bulk", {"keys": ["k"], "parallelism": True}),
])
async def test_body_metadata_and_fields_go_cannot_decode(sidecar: Sidecar, path: str,
                                                         body: dict[str, Any]) -> None:
    await sidecar.expect("POST", f"{STATE}/{path}", 400, "ERR_MALFORMED_REQUEST", json=body)


async def test_bulk_get_takes_query_and_body_metadata(sidecar: Sidecar) -> None:
    k = sidecar.key("bulk-meta")
    await sidecar.expect("POST", STATE, 204, json=[{"key": k, "value": 1}])
    got = await sidecar.expect("PUT", f"{STATE}/bulk", 200, params={"metadata.partitionKey": "p"},
                               json={"keys": [k], "metadata": {"partitionKey": "q"},
                                     "parallelism": 3})
    assert got.json()[0]["data"] == 1


async def test_a_ttl_of_minus_one_persists_the_key(sidecar: Sidecar) -> None:
    """state.redis runs PERSIST for a TTL of 0 or less; a save without a TTL keeps the one the
    key has (HSET leaves an EXPIRE in place)."""
    kept, persisted = sidecar.key("ttl-kept"), sidecar.key("ttl-persisted")
    await sidecar.expect("POST", STATE, 204, params={"metadata.ttlInSeconds": "10"},
                         json=[{"key": kept, "value": 1}, {"key": persisted, "value": 1}])
    await sidecar.expect("POST", STATE, 204, json=[
        {"key": kept, "value": 2},
        {"key": persisted, "value": 2, "metadata": {"ttlInSeconds": "-1"}}])
    await sidecar.advance(10)
    await sidecar.expect("GET", f"{STATE}/{kept}", 204)
    assert (await sidecar.expect("GET", f"{STATE}/{persisted}", 200)).json() == 2


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/a||b", None), ("DELETE", "/a||b", None), ("POST", "/bulk", {"keys": ["a||b"]}),
    ("POST", "/transaction", {"operations": [{"operation": "delete",
                                              "request": {"key": "a||b"}}]}),
])
async def test_a_key_with_the_separator_is_refused_by_every_call(
        sidecar: Sidecar, method: str, path: str, body: Any) -> None:
    await sidecar.expect(method, f"{STATE}{path}", 400, "ERR_MALFORMED_REQUEST", json=body)


async def test_transactions_accept_put(sidecar: Sidecar) -> None:
    k = sidecar.key("tx-put")
    await sidecar.expect("PUT", f"{STATE}/transaction", 204, json={
        "operations": [{"operation": "upsert", "request": {"key": k, "value": 1}}]})
    assert (await sidecar.expect("GET", f"{STATE}/{k}", 200)).json() == 1


async def test_unknown_options_fail_their_item_with_a_plain_500(sidecar: Sidecar) -> None:
    """state.redis runs CheckRequestOptions on Set and Delete (not in Multi); the other items
    of a save are written (they are saved one by one)."""
    good, bad = sidecar.key("opt-good"), sidecar.key("opt-bad")
    await sidecar.expect("POST", STATE, 500, "ERR_STATE_SAVE", json=[
        {"key": good, "value": 1, "options": {"consistency": "strong"}},
        {"key": bad, "value": 2, "options": {"concurrency": "whatever"}}])
    assert (await sidecar.expect("GET", f"{STATE}/{good}", 200)).json() == 1
    await sidecar.expect("GET", f"{STATE}/{bad}", 204)
    await sidecar.expect("POST", STATE, 500, "ERR_STATE_SAVE", json=[
        {"key": bad, "value": 2, "options": {"consistency": "STRONG"}}])
    await sidecar.expect("POST", STATE, 400, "ERR_MALFORMED_REQUEST", json=[
        {"key": bad, "value": 2, "options": {"concurrency": 1}}])
    await sidecar.expect("POST", f"{STATE}/transaction", 204, json={"operations": [
        {"operation": "upsert",
         "request": {"key": bad, "value": 2, "options": {"concurrency": "whatever"}}}]})
    await sidecar.expect("DELETE", f"{STATE}/{good}", 500, "ERR_STATE_DELETE",
                         params={"concurrency": "whatever"})
    await sidecar.expect("DELETE", f"{STATE}/{good}", 204,
                         params={"concurrency": "last-write", "consistency": "eventual"})


@pytest.mark.parametrize(("sent", "stored"), [
    (b'{"b": 1, "a": {"d": [1, 2.0], "c": "x"}}', b'{"a":{"c":"x","d":[1,2]},"b":1}'),
    (b"9007199254740993", b"9007199254740992"),  # a float64: integers above 2**53 round
    (b"3.14159265", b"3.141593"),  # state.redis writes six decimals (jsoniter ConfigFastest)
    (b"0.0000001", b"0"),
    (b"-2.5e-7", b"-0"),
    (b"1e21", b"1e+21"),
    (b"123456789.123456789", b"123456789.12345679"),  # above 0x4ffffff: shortest digits
    (b'"caf\\u00e9 <&> \\u0001\\n"', '"café <&> \\u0001\\n"'.encode()),
])
async def test_values_are_stored_as_state_redis_writes_them(sidecar: Sidecar, sent: bytes,
                                                            stored: bytes) -> None:
    k = sidecar.key("encoded")
    await sidecar.expect("POST", STATE, 204, content=b'[{"key": "%s", "value": %s}]'
                         % (k.encode(), sent))
    assert (await sidecar.expect("GET", f"{STATE}/{k}", 200)).content == stored
    bulk = await sidecar.expect("POST", f"{STATE}/bulk", 200, json={"keys": [k]})
    assert bulk.json()[0]["data"] == json.loads(stored)


async def test_keys_in_the_path_are_unescaped_as_query_strings(sidecar: Sidecar) -> None:
    """daprd query-unescapes URL parameters: ``+`` is a space, ``%2B`` a plus."""
    spaced, plus = sidecar.key("a b"), sidecar.key("a+b")
    await sidecar.expect("POST", STATE, 204, json=[{"key": spaced, "value": "space"},
                                                   {"key": plus, "value": "plus"}])
    assert (await sidecar.expect("GET", f"{STATE}/{sidecar.key('a+b')}", 200)).json() == "space"
    assert (await sidecar.expect("GET", f"{STATE}/{sidecar.key('a%2Bb')}", 200)).json() == "plus"
    await sidecar.expect("DELETE", f"{STATE}/{sidecar.key('a+b')}", 204)
    await sidecar.expect("GET", f"{STATE}/{sidecar.key('a%20b')}", 204)


async def test_the_path_is_cleaned_before_routing(sidecar: Sidecar) -> None:
    """daprd's CleanPathMiddleware: trailing slashes, ``//`` and ``.`` do not change the
    route; nothing is redirected."""
    await sidecar.expect("GET", "/v1.0/healthz/", 204)
    assert (await sidecar.expect("GET", "/v1.0//metadata/", 200)).json()["id"] == "app-a"
    k = sidecar.key("clean")
    await sidecar.expect("POST", f"{STATE}/./", 204, json=[{"key": k, "value": 1}])
    assert (await sidecar.expect("GET", f"/v1.0/state//statestore/{k}", 200)).json() == 1


async def test_put_metadata_with_an_empty_key_finds_no_route(sidecar: Sidecar) -> None:
    """``/v1.0/metadata/`` is cleaned to ``/v1.0/metadata``, which has no PUT: daprd's fallback
    (service invocation) finds no app id. An unknown API path answers the same."""
    await sidecar.expect("PUT", "/v1.0/metadata/", 404, "ERR_DIRECT_INVOKE", content=b"v")
    await sidecar.expect("GET", "/v1.0/nothing/here", 404, "ERR_DIRECT_INVOKE")
    extended = (await sidecar.expect("GET", "/v1.0/metadata", 200)).json()["extended"]
    assert "" not in extended
