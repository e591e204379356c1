"""Subscriber helpers, the idempotent consumer and the outbox, against the in-process sidecar."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from kugel_common import (
    BreakerState,
    DaprClientHelper,
    DaprUnavailableError,
    ServiceClientPool,
    set_testing,
)
from kugel_common.dapr import (
    CloudEvent,
    DropEvent,
    IdempotentConsumer,
    Outbox,
    OutboxEvent,
    OutboxRecord,
    OutboxStatus,
    RetryLater,
    Subscriber,
)
from kugel_common.dapr.sidecar import (
    Component,
    Published,
    SidecarApp,
    StateStore,
    parse_subscriptions,
)
from kugel_common.testing import FakeClock


class Sale(BaseModel):
    total: str


class Switchable(httpx.AsyncBaseTransport):
    """The sidecar, reachable or not."""

    def __init__(self, app: SidecarApp) -> None:
        self.inner = httpx.ASGITransport(app.asgi)
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused")
        return await self.inner.handle_async_request(request)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def published() -> list[Published]:
    return []


@pytest.fixture
def sidecar(clock: FakeClock, published: list[Published]) -> Switchable:
    components = [Component("statestore", "state.in-memory"), Component("pubsub", "pubsub.x")]
    app = SidecarApp("app", components, {"statestore": StateStore(clock.now)},
                     published.append, clock=clock.now)
    return Switchable(app)


@pytest.fixture
async def dapr(sidecar: Switchable, clock: FakeClock) -> AsyncIterator[DaprClientHelper]:
    pool = ServiceClientPool(clock=clock, transport=lambda _n, _s: sidecar)
    yield DaprClientHelper(pool, environ={})
    await pool.aclose()


# -- subscriber -----------------------------------------------------------------------------------

@pytest.fixture
def app_and_calls() -> tuple[FastAPI, list[str]]:
    subscriber = Subscriber(environ={"APP_API_TOKEN": "app-secret"})
    calls: list[str] = []

    @subscriber.subscribe("pubsub", "sales", dead_letter_topic="sales-dead")
    async def on_sale(event: CloudEvent[Sale]) -> None:
        calls.append(event.data.total)
        if event.data.total == "retry":
            raise RetryLater
        if event.data.total == "drop":
            raise DropEvent
        if event.data.total == "bug":
            raise KeyError("bug")

    app = FastAPI()
    app.include_router(subscriber.router)
    return app, calls


def envelope(data: object) -> bytes:
    return json.dumps({"id": "e1", "specversion": "1.0", "source": "s", "type": "t",
                       "topic": "sales", "pubsubname": "pubsub", "data": data}).encode()


async def test_subscriber_answers_as_daprd_expects(
    app_and_calls: tuple[FastAPI, list[str]],
) -> None:
    app, calls = app_and_calls
    transport = httpx.ASGITransport(app)
    headers = {"dapr-api-token": "app-secret", "content-type": "application/cloudevents+json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/dapr/subscribe")).status_code == 401
        listed = (await client.get("/dapr/subscribe", headers=headers)).json()
        assert listed == [{"pubsubname": "pubsub", "topic": "sales",
                           "route": "/dapr/events/pubsub/sales", "deadLetterTopic": "sales-dead"}]
        route = listed[0]["route"]

        async def deliver(data: object) -> httpx.Response:
            return await client.post(route, content=envelope(data), headers=headers)

        assert (await client.post(route, content=envelope({"total": "1"}))).status_code == 401
        assert (await deliver({"total": "1"})).json() == {"status": "SUCCESS"}
        reply = await deliver({"total": "retry"})
        assert (reply.status_code, reply.json()) == (200, {"status": "RETRY"})
        assert (await deliver({"total": "drop"})).json() == {"status": "DROP"}
        assert (await deliver({"wrong": "shape"})).json() == {"status": "DROP"}  # poison
        reply = await deliver({"total": "bug"})
        assert reply.status_code == 500  # redelivered, and visible as an error
    assert calls == ["1", "retry", "drop", "bug"]


async def test_routing_rules_share_a_topic() -> None:
    subscriber = Subscriber(environ={})
    seen: list[str] = []

    @subscriber.subscribe("pubsub", "sales", match='event.type == "refund"')
    async def on_refund(event: CloudEvent[Sale]) -> None:
        seen.append("refund")

    @subscriber.subscribe("pubsub", "sales")
    async def on_sale(event: CloudEvent[Sale]) -> None:
        seen.append("sale")

    app = FastAPI()
    app.include_router(subscriber.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://app") as client:
        listed = (await client.get("/dapr/subscribe")).json()
        assert listed == [{"pubsubname": "pubsub", "topic": "sales", "routes": {
            "rules": [{"match": 'event.type == "refund"',
                       "path": "/dapr/events/pubsub/sales/on_refund"}],
            "default": "/dapr/events/pubsub/sales"}}]
        subscription = parse_subscriptions(listed)[0]  # what the sidecar makes of it
        for kind in ("refund", "sale"):
            route = subscription.route_for({"type": kind})
            assert route is not None
            await client.post(route, content=envelope({"total": "1"}))
    assert seen == ["refund", "sale"]


def test_a_handler_must_name_its_payload_type() -> None:
    async def untyped(event: object) -> None: ...

    with pytest.raises(TypeError, match="CloudEvent"):
        Subscriber(environ={}).subscribe("p", "t")(untyped)


# -- idempotent consumer --------------------------------------------------------------------------

async def test_claims_are_atomic_and_given_back_on_failure(
    dapr: DaprClientHelper, sidecar: Switchable
) -> None:
    consumer = IdempotentConsumer(dapr, "statestore")
    assert await consumer.claim("e1") is True
    assert await consumer.claim("e1") is False
    with pytest.raises(RuntimeError):
        async with consumer.once("e2") as first:
            assert first
            raise RuntimeError("apply failed")
    async with consumer.once("e2") as first:
        assert first  # the failed attempt gave its claim back
    sidecar.down = True
    with pytest.raises(DaprUnavailableError):  # never "already claimed" when it cannot know
        await consumer.claim("e3")


async def test_claims_live_a_week_by_default(
    dapr: DaprClientHelper, clock: FakeClock
) -> None:
    consumer = IdempotentConsumer(dapr, "statestore")
    await consumer.claim("e1")
    clock.advance(6 * 24 * 3600)
    assert await consumer.claim("e1") is False
    clock.advance(2 * 24 * 3600)
    assert await consumer.claim("e1") is True


# -- outbox ---------------------------------------------------------------------------------------

async def test_outbox_waits_out_an_outage_in_order(
    dapr: DaprClientHelper, sidecar: Switchable, clock: FakeClock, published: list[Published]
) -> None:
    sidecar.down = True
    with set_testing(True):
        outbox = Outbox(dapr, clock=clock)
        async with outbox:
            ids = [await outbox.publish("pubsub", "sales", {"n": n}) for n in range(30)]
            while dapr.breaker_state("pubsub") is not BreakerState.OPEN:
                await clock.sleep(0)
            record = await outbox.status(ids[0])
            assert record is not None and record.status is OutboxStatus.PENDING
            assert record.attempts >= 1 and "Unavailable" in (record.last_error or "")
            sidecar.down = False
            await outbox.drain(timeout=5)
            assert (await outbox.counts()) == {OutboxStatus.PENDING: 0, OutboxStatus.DELIVERED: 30,
                                       OutboxStatus.FAILED: 0}
    assert [p.body["id"] for p in published] == ids  # in order, each with its own id
    assert [p.body["data"]["n"] for p in published] == list(range(30))
    assert dapr.breaker_state("pubsub") is BreakerState.CLOSED


async def test_outbox_marks_a_refused_event_failed_and_goes_on(
    dapr: DaprClientHelper, published: list[Published]
) -> None:
    async with Outbox(dapr) as outbox:
        bad = await outbox.publish("no-such-pubsub", "t", {})
        good = await outbox.publish("pubsub", "t", {})
        await outbox.drain(timeout=5)
        failed = await outbox.status(bad)
        assert failed is not None and failed.status is OutboxStatus.FAILED
        assert "ComponentNotFoundError" in (failed.last_error or "")
        assert [p.body["id"] for p in published] == [good]


async def test_outbox_survives_a_restart(
    dapr: DaprClientHelper, sidecar: Switchable, published: list[Published], tmp_path: object
) -> None:
    path = f"{tmp_path}/outbox.sqlite3"
    first = Outbox(dapr, path)  # never started: the process "crashed" before relaying
    event_id = await first.publish("pubsub", "t", {"kept": True})
    await first.stop()
    async with Outbox(dapr, path) as second:
        await second.drain(timeout=5)
    assert [p.body["id"] for p in published] == [event_id]


class ListStore:
    """An OutboxStore of plain lists: what a service's own database would implement."""

    def __init__(self) -> None:
        self.events: list[OutboxEvent] = []
        self.status: dict[int, OutboxStatus] = {}

    async def add(self, event_id: str, pubsub: str, topic: str, data: Any,
                  metadata: dict[str, str]) -> None:
        seq = len(self.events)
        self.events.append(OutboxEvent(seq, event_id, pubsub, topic, data, metadata))
        self.status[seq] = OutboxStatus.PENDING

    async def pending(self, limit: int) -> list[OutboxEvent]:
        return [e for e in self.events if self.status[e.seq] is OutboxStatus.PENDING][:limit]

    async def mark(self, seq: int, status: OutboxStatus, error: str | None = None) -> None:
        self.status[seq] = status

    async def record(self, event_id: str) -> OutboxRecord | None:
        return None

    async def counts(self) -> dict[OutboxStatus, int]:
        return dict(Counter(self.status.values()))

    def close(self) -> None:
        pass


async def test_outbox_runs_on_a_store_of_the_services_choosing(
    dapr: DaprClientHelper, published: list[Published]
) -> None:
    store = ListStore()
    async with Outbox(dapr, store) as outbox:
        event_id = await outbox.publish("pubsub", "t", {"n": 1}, metadata={"k": "v"})
        await outbox.drain(timeout=5)
    assert store.status == {0: OutboxStatus.DELIVERED}
    assert [p.body["id"] for p in published] == [event_id]
