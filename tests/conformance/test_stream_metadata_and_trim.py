"""Publish metadata and stream trimming in the stores, on the embedded streams and on Redis
in daprd's layout (components-contrib pubsub/redis/redis.go ``Publish``): the ``metadata``
field daprd writes, read back as daprd reads it; ``maxLenApprox`` and ``streamTTL`` trimming
entries no group has read yet.

Redis trims ``~`` by whole stream nodes: the private Redis keeps one entry per node while
these tests run, so that its trimming is as exact as the embedded one's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from kugel_common.dapr.sidecar._broker import Broker, Message, StreamLimits
from kugel_common.dapr.sidecar._delivery import Subscription, Verdict
from kugel_common.dapr.sidecar._events import Published
from kugel_common.dapr.sidecar._redis_client import connect
from kugel_common.dapr.sidecar._redis_streams import RedisStreams
from kugel_common.testing import FakeClock

from ..waiting import drained, until


@dataclass
class Backend:
    broker: Broker
    clock: FakeClock
    redis: aioredis.Redis | None = None  # the raw client: what daprd sees


@pytest.fixture(params=["embedded", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """A broker on either backend, its clock at the real time (Redis stamps entry ids)."""
    clock = FakeClock(time.time())
    broker = Broker(clock=clock.now)
    if request.param == "embedded":
        yield Backend(broker, clock)
        await broker.aclose()
        return
    server = request.getfixturevalue("redis")
    client = await connect("127.0.0.1", server.port)
    await client.flushdb()
    before = (await client.config_get("stream-node-max-entries"))["stream-node-max-entries"]
    await client.config_set("stream-node-max-entries", 1)
    broker.route({"pubsub": RedisStreams(await connect("127.0.0.1", server.port))})
    try:
        yield Backend(broker, clock, client)
    finally:
        await broker.aclose()
        await client.config_set("stream-node-max-entries", before)
        await client.aclose()


async def stored(backend: Backend, topic: str) -> list[tuple[bytes, bytes | None]]:
    """(data, metadata field) of each entry, read by a group that never read before."""
    entries = await backend.broker.streams_of("pubsub").read_new(
        "probe", "pubsub", topic, 100, 0)
    return [(e.data, e.metadata) for e in entries]


async def test_publish_metadata_is_stored_as_daprd_writes_it(backend: Backend) -> None:
    await backend.broker.publish(Published("pubsub", "orders", b"with", raw=True,
                                           metadata={"b": "<x>", "a": "\u00e9", "": ""}))
    await backend.broker.publish(Published("pubsub", "orders", b"empty", raw=True,
                                           metadata={}))
    await backend.broker.publish(Published("pubsub", "orders", b"none", raw=True))
    assert await stored(backend, "orders") == [
        (b"with", '{"":"","a":"\u00e9","b":"\\u003cx\\u003e"}'.encode()),
        (b"empty", b"{}"), (b"none", None)]
    if backend.redis is not None:
        fields = [f for _, f in await backend.redis.xrange("orders")]
        assert [set(f) for f in fields] == [{b"data", b"metadata"}] * 2 + [{b"data"}]


async def test_an_entry_daprd_wrote_is_delivered_with_its_metadata(backend: Backend) -> None:
    """The ``metadata`` field as daprd writes it, and as a careless writer might."""
    streams = backend.broker.streams_of("pubsub")
    for metadata in (b'{"tenant":"acme","n":1}', b"not json", None):
        if backend.redis is not None:  # daprd's own XADD
            fields = {"data": b"{}"} if metadata is None else {"data": b"{}",
                                                                "metadata": metadata}
            await backend.redis.xadd("orders", fields)  # type: ignore[arg-type]
        else:
            await streams.add("pubsub", "orders", b"{}", metadata)
    got: list[Message] = []

    async def deliver(_app: str, _sub: Subscription, message: Message) -> Verdict:
        got.append(message)
        return Verdict.ACK

    backend.broker.attach("billing", Subscription("pubsub", "orders", "/"), deliver)
    await until(lambda: len(got) == 3 and drained(backend.broker, "billing", "pubsub",
                                                  "orders"))
    in_order = sorted(got, key=lambda m: tuple(int(part) for part in m.id.split("-")))
    assert [m.metadata for m in in_order] == [{"tenant": "acme", "n": ""}, None, None]


async def test_max_len_approx_trims_entries_no_group_has_read(backend: Backend) -> None:
    backend.broker.limit({"pubsub": StreamLimits(max_len=2)})
    await backend.broker.streams_of("pubsub").read_new("billing", "pubsub", "orders", 10, 0)
    for n in range(5):
        await backend.broker.publish(Published("pubsub", "orders", {"n": n}))
    assert await backend.broker.pending("billing", "pubsub", "orders") == 2
    assert [data for data, _ in await stored(backend, "orders")] == [b'{"n": 3}', b'{"n": 4}']
    await backend.broker.publish(Published("other", "orders", {"n": 5}))  # no limits there
    assert await backend.broker.pending("billing", "other", "orders") == 1


async def test_stream_ttl_trims_entries_older_than_it(backend: Backend) -> None:
    backend.broker.limit({"pubsub": StreamLimits(ttl=60.0)})
    now = backend.clock.now()
    if backend.redis is not None:  # entries daprd added two minutes ago
        for n in range(2):
            await backend.redis.xadd("orders", {"data": f"old {n}"},
                                     id=f"{int((now - 120) * 1000)}-{n}")
    else:
        backend.clock.time = now - 120
        for n in range(2):
            await backend.broker.publish(Published("pubsub", "orders", f"old {n}".encode(),
                                                   raw=True))
        backend.clock.time = now
    await backend.broker.publish(Published("pubsub", "orders", b"recent", raw=True))
    assert await stored(backend, "orders") == [(b"recent", None)]


async def test_a_pending_entry_trimmed_away_is_never_handed_out_again(
        backend: Backend) -> None:
    streams = backend.broker.streams_of("pubsub")
    await backend.broker.publish(Published("pubsub", "orders", b"first", raw=True))
    [first] = await streams.read_new("billing", "pubsub", "orders", 10, 0)  # now pending
    backend.broker.limit({"pubsub": StreamLimits(max_len=1)})
    await backend.broker.publish(Published("pubsub", "orders", b"second", raw=True))
    assert await streams.claim("billing", "pubsub", "orders", 0, 10) == []
    assert await backend.broker.pending("billing", "pubsub", "orders") == 1  # "second"
    assert first.data == b"first"
