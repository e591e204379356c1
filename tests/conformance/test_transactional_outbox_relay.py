"""The second half of daprd's transactional outbox in the local sidecar: the consumer of the
internal topic that checks the marker, publishes the user's event and deletes the marker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar
from kugel_common.dapr.sidecar._broker import Message
from kugel_common.dapr.sidecar._delivery import Subscription, Verdict
from kugel_common.dapr.sidecar._events import Published
from kugel_common.testing import FakeClock

from ..waiting import until
from .harness import COMPONENTS

INTERNAL = ("outbox-internal", "defaultapp-aordersoutbox")  # NAMESPACE unset: "default"


class Watched:
    def __init__(self, sidecar: LocalSidecar, clock: FakeClock) -> None:
        self.sidecar, self.clock = sidecar, clock
        self.orders: list[Message] = []

        async def collect(_app: str, _sub: Subscription, message: Message) -> Verdict:
            self.orders.append(message)
            return Verdict.ACK

        sidecar.broker.attach("watcher", Subscription("pubsub", "orders", "/"), collect)

    async def transact(self, store: str, key: str, value: object) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.sidecar.url("app-a")) as client:
            return await client.post(f"/v1.0/state/{store}/transaction", json={"operations": [
                {"operation": "upsert", "request": {"key": key, "value": value,
                                                    "contentType": "application/json"}}]})

    async def internal_pending(self) -> int:
        return await self.sidecar.broker.pending("app-a", *INTERNAL)

    async def internal_drained(self) -> bool:
        return await self.internal_pending() == 0


async def watched(components: list[Component]) -> AsyncIterator[Watched]:
    clock = FakeClock()
    async with LocalSidecar([AppSpec("app-a")], components, sleep=clock.sleep) as sidecar:
        yield Watched(sidecar, clock)


@pytest.fixture
async def local() -> AsyncIterator[Watched]:
    async for w in watched(COMPONENTS):
        yield w


async def test_the_event_reaches_the_user_topic_with_the_marker_as_its_id(
        local: Watched) -> None:
    assert (await local.transact("outboxstore", "o-1", {"n": 1})).status_code == 204
    await until(lambda: bool(local.orders) and local.internal_drained())
    [event] = [m.body for m in local.orders]
    assert (event["topic"], event["pubsubname"], event["data"]) == ("orders", "pubsub", {"n": 1})
    assert event["id"].startswith("outbox-")
    assert await local.sidecar.stores["outboxstore"].get(event["id"]) is None  # marker deleted
    assert local.clock.sleeps[0] == 1.0  # daprd waits 1 s before every marker check


async def test_pubsub_redis_loses_an_event_whose_marker_never_shows(
        local: Watched, caplog: pytest.LogCaptureFixture) -> None:
    """Redis streams ack a failed handler: an intent without its marker is gone after 10 s."""
    caplog.set_level(logging.ERROR, "kugel_common.dapr.sidecar")
    await local.sidecar.broker.publish(Published(*INTERNAL, {"id": "outbox-never-committed"}))
    await until(local.internal_drained)
    assert local.orders == []
    assert sum(local.clock.sleeps) >= 1.0 + 10.0  # the scan delay, then 10 s of polling
    assert "the event is lost" in caplog.text


async def test_a_broker_that_redelivers_keeps_the_intent(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "kugel_common.dapr.sidecar")
    components = [Component("outboxstore", "state.redis", metadata={
                      "outboxPublishPubsub": "pubsub", "outboxPublishTopic": "orders",
                      "outboxPubsub": "outbox-internal"}),
                  Component("pubsub", "pubsub.redis"),
                  Component("outbox-internal", "pubsub.in-memory")]
    async for w in watched(components):
        await w.sidecar.broker.publish(Published(*INTERNAL, {"id": "outbox-not-yet"}))
        await until(lambda: "redelivered" in caplog.text)
        assert await w.internal_pending() == 1  # not acked: the broker delivers it again
        assert w.orders == []
