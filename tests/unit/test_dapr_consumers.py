"""Subscriber helpers: typed CloudEvents, honest answers, routing rules."""

from __future__ import annotations

import json
import logging

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
    app_and_calls: tuple[FastAPI, list[str]], caplog: pytest.LogCaptureFixture,
) -> None:
    app, calls = app_and_calls
    caplog.set_level(logging.WARNING, "kugel_common.dapr.subscriber")
    transport = httpx.ASGITransport(app)
    headers = {"dapr-api-token": "app-secret", "content-type": "application/cloudevents+json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/dapr/subscribe")).status_code == 401
        assert "GET /dapr/subscribe refused (401): no dapr-api-token" in caplog.text
        assert (await client.get("/dapr/subscribe", headers={"dapr-api-token": "guess"})
                ).status_code == 401
        assert "a wrong dapr-api-token" in caplog.text and "guess" not in caplog.text
        listed = (await client.get("/dapr/subscribe", headers=headers)).json()
        assert listed == [{"pubsubname": "pubsub", "topic": "sales",
                           "route": "/dapr/events/pubsub/sales", "deadLetterTopic": "sales-dead"}]
        route = listed[0]["route"]

        async def deliver(data: object) -> httpx.Response:
            return await client.post(route, content=envelope(data), headers=headers)

        assert (await client.post(route, content=envelope({"total": "1"}))).status_code == 401
        assert (await client.post("/dapr/events/pubsub/gone")).status_code == 401  # no handler
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




# -- include_router and subscribe, in either order ------------------------------------------------

def orders_app(include_first: bool) -> tuple[FastAPI, list[str]]:
    """An app whose subscriber's router is included before or after its one subscription."""
    app, subscriber = FastAPI(), Subscriber(environ={})
    calls: list[str] = []
    if include_first:
        app.include_router(subscriber.router)

    @subscriber.subscribe("pubsub", "sales")
    async def on_sale(event: CloudEvent[Sale]) -> None:
        calls.append(event.data.total)

    if not include_first:
        app.include_router(subscriber.router)
    return app, calls


@pytest.mark.parametrize("include_first", [True, False])
async def test_either_order_delivers(include_first: bool) -> None:
    app, calls = orders_app(include_first)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://app") as client:
        route = (await client.get("/dapr/subscribe")).json()[0]["route"]
        reply = await client.post(route, content=envelope({"total": "1"}))
        assert (reply.status_code, reply.json()) == (200, {"status": "SUCCESS"})
    assert calls == ["1"]


async def test_a_delivery_no_handler_takes_is_an_error_daprd_retries(
        caplog: pytest.LogCaptureFixture) -> None:
    app, calls = orders_app(include_first=True)

    @app.post("/dapr/events/own")  # the app's own routes still come first
    async def own() -> dict[str, str]:
        return {"status": "SUCCESS"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://app") as client:
        with caplog.at_level(logging.ERROR, logger="kugel_common.dapr.subscriber"):
            reply = await client.post("/dapr/events/pubsub/gone", content=envelope({}))
        assert (reply.status_code, reply.json()) == (500, {"status": "RETRY"})  # not 404: drop
        assert [r.levelno for r in caplog.records] == [logging.ERROR]
        assert "/dapr/events/pubsub/gone" in caplog.records[0].getMessage()
        assert (await client.post("/dapr/events/own")).json() == {"status": "SUCCESS"}
        assert (await client.get("/dapr/events/pubsub/sales")).status_code == 405
        assert (await client.post("/elsewhere")).status_code == 404  # not a delivery path
    assert calls == []


async def test_two_subscribers_in_one_app_each_get_their_own() -> None:
    app, first_calls = orders_app(include_first=True)
    second = Subscriber(environ={})
    second_calls: list[str] = []
    app.include_router(second.router)

    @second.subscribe("pubsub", "refunds")
    async def on_refund(event: CloudEvent[Sale]) -> None:
        second_calls.append(event.data.total)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://app") as client:
        for route in ("/dapr/events/pubsub/sales", "/dapr/events/pubsub/refunds"):
            reply = await client.post(route, content=envelope({"total": route[-5:]}))
            assert reply.json() == {"status": "SUCCESS"}
    assert (first_calls, second_calls) == (["sales"], ["funds"])


def test_a_route_starts_with_a_slash_and_takes_one_handler() -> None:
    subscriber = Subscriber(environ={})

    async def on_sale(event: CloudEvent[Sale]) -> None: ...

    subscriber.subscribe("pubsub", "sales", route="/sales")(on_sale)
    with pytest.raises(ValueError, match="'/sales'"):
        subscriber.subscribe("pubsub", "refunds", route="/sales")(on_sale)
    with pytest.raises(ValueError, match="'sales'"):
        subscriber.subscribe("pubsub", "refunds", route="sales")(on_sale)
    assert [entry["topic"] for entry in subscriber.entries] == ["sales"]
