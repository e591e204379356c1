"""Subscriber helpers: typed CloudEvents, honest answers, routing rules."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from kugel_common.dapr import CloudEvent, DropEvent, RetryLater, Subscriber
from kugel_common.dapr.sidecar._delivery import parse_subscriptions


class Sale(BaseModel):
    total: str


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


