"""daprd replaces placeholders in component metadata for the app id whose sidecar loads it
(dapr pkg/runtime/meta/meta.go). ``consumerID: "{appID}"`` on a pub/sub that two apps share is
the common case: each app gets its own consumer group, so both get every event. Taken as
text, the two apps would share one group and each event would reach only one of them."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI

from kugel_common import ServiceClientPool
from kugel_common.dapr import CloudEvent, DaprClientHelper, Subscriber
from kugel_common.dapr.sidecar import AppSpec, Component, ComponentError, LocalSidecar

from .server import serve_here

EVENTS = 6


def app_that_records(received: list[str]) -> FastAPI:
    subscriber = Subscriber(environ={})

    @subscriber.subscribe("shared", "orders")
    async def on_order(event: CloudEvent[str]) -> None:
        received.append(event.data)

    app = FastAPI()
    app.include_router(subscriber.router)
    return app


async def test_consumer_id_app_id_gives_each_app_every_event() -> None:
    shared = Component("shared", "pubsub.redis", metadata={"consumerID": "{appID}"})
    first: list[str] = []
    second: list[str] = []
    async with serve_here(app_that_records(first)) as first_url, \
            serve_here(app_that_records(second)) as second_url:
        specs = [AppSpec("pub"), AppSpec("first", app_url=first_url),
                 AppSpec("second", app_url=second_url)]
        async with LocalSidecar(specs, [shared]) as sidecar:
            pool = ServiceClientPool()
            dapr = DaprClientHelper(pool, sidecar_url=sidecar.url("pub"), environ={})
            for n in range(EVENTS):
                await dapr.publish_event("shared", "orders", str(n))
            for _ in range(250):
                if len(first) == len(second) == EVENTS:
                    break
                await asyncio.sleep(0.02)
            await pool.aclose()
    assert sorted(first) == sorted(second) == [str(n) for n in range(EVENTS)]


def test_placeholders_are_replaced_as_daprd_replaces_them() -> None:
    component = Component("c", "pubsub.redis", metadata={
        "consumerID": "{namespace}", "app": "{appID}-{appID}", "ids": "{uuid} {uuid}",
        "plain": "text"})
    unset = component.for_app("cart").metadata  # NAMESPACE unset: daprd's "default"
    assert unset["consumerID"] == "default.cart"
    assert unset["app"] == "cart-cart"
    assert unset["plain"] == "text"
    one, two = unset["ids"].split(" ")
    assert one != two and len(one) == 36  # a new uuid for each occurrence
    assert component.for_app("cart", "prod").metadata["consumerID"] == "prod.cart"
    assert component.for_app("cart", "").metadata["consumerID"] == ".cart"


def test_pod_name_is_refused_outside_kubernetes() -> None:
    component = Component("c", "state.redis", metadata={"redisHost": "{podName}:6379"})
    with pytest.raises(ComponentError, match="podName"):
        LocalSidecar([AppSpec("cart")], [component])
