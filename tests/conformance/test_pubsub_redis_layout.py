"""pubsub.redis on a real Redis keeps daprd's layout (components-contrib pubsub/redis/redis.go):
a stream per topic named by the topic, a ``data`` and a ``metadata`` field, a consumer group per
app id."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar, RedisUnreachable
from kugel_common.dapr.sidecar._broker import Message
from kugel_common.dapr.sidecar._delivery import Subscription, Verdict
from kugel_common.dapr.sidecar._redis_streams import RedisStreams
from kugel_common.dapr.sidecar._streams import SqliteStreams

from ..redis_server import RedisServer
from ..waiting import drained, until


def pubsub(host: str) -> Component:
    return Component("pubsub", "pubsub.redis", metadata={"redisHost": host})


@pytest.fixture
async def client(redis: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(port=redis.port)
    await client.flushdb()
    yield client
    await client.aclose()


class Inbox(list[Message]):
    async def __call__(self, _app: str, _sub: Subscription, message: Message) -> Verdict:
        self.append(message)
        return Verdict.ACK


async def test_a_published_event_is_an_entry_of_the_topic_stream_and_each_app_a_group(
        redis: RedisServer, client: aioredis.Redis) -> None:
    inboxes = {"billing": Inbox(), "shipping": Inbox()}
    async with LocalSidecar([AppSpec("cart")], [pubsub(redis.host)],
                            state_backend="auto") as sidecar, \
            httpx.AsyncClient(base_url=sidecar.url("cart")) as http:
        assert isinstance(sidecar.broker.streams_of("pubsub"), RedisStreams)
        for app_id, inbox in inboxes.items():
            sidecar.broker.attach(app_id, Subscription("pubsub", "orders", "/"), inbox)
        published = await http.post("/v1.0/publish/pubsub/orders", json={"n": 1})
        assert published.status_code == 204
        await until(lambda: all(len(inbox) == 1 for inbox in inboxes.values()))
        await until(lambda: drained(sidecar.broker, "billing", "pubsub", "orders"))
    [(_, fields)] = await client.xrange("orders")
    assert set(fields) == {b"data", b"metadata"}
    assert fields[b"metadata"] == b"{}"  # daprd's HTTP publish always passes a map
    envelope = json.loads(fields[b"data"])
    assert envelope["data"] == {"n": 1} and envelope["topic"] == "orders"
    assert envelope["pubsubname"] == "pubsub" and envelope["source"] == "cart"
    groups = {g["name"]: g for g in await client.xinfo_groups("orders")}
    assert set(groups) == {b"billing", b"shipping"}
    assert groups[b"billing"]["pending"] == 0  # acked
    assert [m.body for m in inboxes["billing"]] == [envelope]


async def test_an_event_a_foreign_writer_adds_in_daprds_layout_is_delivered(
        redis: RedisServer, client: aioredis.Redis) -> None:
    event = {"specversion": "1.0", "id": "from-daprd", "source": "elsewhere", "type": "t",
             "topic": "orders", "pubsubname": "pubsub", "data": {"n": 7}}
    await client.xgroup_create("orders", "billing", id="0", mkstream=True)
    await client.xadd("orders", {"data": json.dumps(event), "metadata": "{}"})
    inbox = Inbox()
    async with LocalSidecar([AppSpec("billing")], [pubsub(redis.host)],
                            state_backend="redis") as sidecar:
        sidecar.broker.attach("billing", Subscription("pubsub", "orders", "/"), inbox)
        await until(lambda: len(inbox) == 1
                    and drained(sidecar.broker, "billing", "pubsub", "orders"))
    assert inbox[0].body == event
    assert (await client.xpending("orders", "billing"))["pending"] == 0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_without_a_redis_auto_keeps_events_embedded_and_redis_refuses_to_start() -> None:
    component = pubsub(f"127.0.0.1:{closed_port()}")
    async with LocalSidecar([AppSpec("cart")], [component], state_backend="auto") as sidecar:
        assert isinstance(sidecar.broker.streams_of("pubsub"), SqliteStreams)
    with pytest.raises(RedisUnreachable) as refused:
        async with LocalSidecar([AppSpec("cart")], [component], state_backend="redis"):
            pass
    assert refused.value.component == "pubsub"
