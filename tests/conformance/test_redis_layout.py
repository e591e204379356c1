"""On the Redis backend, the data is where and how daprd's state.redis keeps it: a HASH per
``{appId}||{key}`` with ``data`` (the value's JSON text) and ``version`` (the etag), and
``first-write`` once written first-write. So daprd reads what the local sidecar wrote, and the
other way round."""

from __future__ import annotations

from .harness import Sidecar

STATE = "/v1.0/state/statestore"


async def test_a_save_is_a_hash_daprd_reads(redis_sidecar: Sidecar) -> None:
    redis, key = redis_sidecar.redis, redis_sidecar.key("layout")
    await redis_sidecar.expect("POST", STATE, 204, json=[{"key": key, "value": {"n": 1}}])
    assert await redis.hgetall(f"app-a||{key}") == {b"data": b'{"n":1}', b"version": b"1"}
    await redis_sidecar.expect("POST", STATE, 204, json=[
        {"key": key, "value": "text", "etag": "1", "options": {"concurrency": "first-write"}}])
    assert await redis.hgetall(f"app-a||{key}") == {
        b"data": b'"text"', b"version": b"2", b"first-write": b"0"}
    assert await redis.ttl(f"app-a||{key}") == -1  # no TTL asked: none set


async def test_ttls_are_redis_expiries(redis_sidecar: Sidecar) -> None:
    redis, key = redis_sidecar.redis, redis_sidecar.key("ttl")
    await redis_sidecar.expect("POST", STATE, 204, json=[
        {"key": key, "value": 1, "metadata": {"ttlInSeconds": "30"}}])
    assert 0 < await redis.ttl(f"app-a||{key}") <= 30
    await redis_sidecar.expect("POST", STATE, 204, json=[{"key": key, "value": 2}])
    assert 0 < await redis.ttl(f"app-a||{key}") <= 30  # HSET keeps the expiry
    await redis_sidecar.expect("POST", STATE, 204, json=[
        {"key": key, "value": 3, "metadata": {"ttlInSeconds": "-1"}}])
    assert await redis.ttl(f"app-a||{key}") == -1  # PERSIST


async def test_a_hash_daprd_wrote_is_served_and_versioned_on(redis_sidecar: Sidecar) -> None:
    redis, key = redis_sidecar.redis, redis_sidecar.key("from-daprd")
    await redis.hset(f"app-a||{key}", mapping={"data": '{"a":[1,2]}', "version": "7"})
    got = await redis_sidecar.expect("GET", f"{STATE}/{key}", 200)
    assert (got.json(), got.headers["etag"]) == ({"a": [1, 2]}, "7")
    bulk = (await redis_sidecar.expect("POST", f"{STATE}/bulk", 200, json={"keys": [key]})).json()
    assert bulk == [{"key": key, "data": {"a": [1, 2]}, "etag": "7"}]
    await redis_sidecar.expect("POST", STATE, 409, "ERR_STATE_SAVE",
                               json=[{"key": key, "value": 1, "etag": "6"}])
    await redis_sidecar.expect("POST", STATE, 204, json=[{"key": key, "value": 1, "etag": "7"}])
    assert await redis.hget(f"app-a||{key}", "version") == b"8"


async def test_a_key_daprd_wrote_first_write_refuses_a_plain_save(
        redis_sidecar: Sidecar) -> None:
    redis, key = redis_sidecar.redis, redis_sidecar.key("daprd-first-write")
    await redis.hset(f"app-a||{key}", mapping={"data": "1", "version": "1", "first-write": "0"})
    await redis_sidecar.expect("POST", STATE, 500, "ERR_STATE_SAVE",
                               json=[{"key": key, "value": 2}])
    await redis_sidecar.expect("DELETE", f"{STATE}/{key}", 204)  # a delete without an etag
    assert await redis.exists(f"app-a||{key}") == 0


async def test_a_value_of_another_type_is_replaced_by_a_save(redis_sidecar: Sidecar) -> None:
    """daprd's set script deletes a key that is not a hash before it writes."""
    redis, key = redis_sidecar.redis, redis_sidecar.key("a-string")
    await redis.set(f"app-a||{key}", "plain")
    await redis_sidecar.expect("POST", STATE, 204, json=[{"key": key, "value": 1}])
    assert await redis.hgetall(f"app-a||{key}") == {b"data": b"1", b"version": b"1"}


async def test_a_key_daprd_cannot_read_fails_its_get_and_only_its_bulk_item(
        redis_sidecar: Sidecar) -> None:
    """A hash without ``data`` or ``version`` fails daprd's getKeyVersion, and a key of
    another type (a list) fails HGETALL and GET: ERR_STATE_GET, and in a bulk get an
    ``error`` on that key's item alone (components-contrib state/bulk.go, DoBulkGet)."""
    redis, half, listed, fine = (redis_sidecar.redis, redis_sidecar.key("half"),
                                 redis_sidecar.key("list"), redis_sidecar.key("fine"))
    await redis.hset(f"app-a||{half}", mapping={"data": "1"})
    await redis.rpush(f"app-a||{listed}", "x")
    await redis_sidecar.expect("POST", STATE, 204, json=[{"key": fine, "value": 1}])
    for key in (half, listed):
        await redis_sidecar.expect("GET", f"{STATE}/{key}", 500, "ERR_STATE_GET")
    bulk = (await redis_sidecar.expect("POST", f"{STATE}/bulk", 200,
                                       json={"keys": [half, fine, listed]})).json()
    assert [set(item) for item in bulk] == [{"key", "error"}, {"key", "data", "etag"},
                                            {"key", "error"}]
    assert [item["key"] for item in bulk] == [half, fine, listed]
