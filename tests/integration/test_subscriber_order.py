"""A real delivery through the local sidecar in both orders of ``include_router`` and
``subscribe``: older FastAPI copies routes at include time, and a lost route was a 404 that
the sidecar (like daprd) takes as "drop" (make test-lowest runs this on such a FastAPI)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from kugel_common import ServiceClientPool
from kugel_common.dapr import CloudEvent, DaprClientHelper, Subscriber
from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar

from ..waiting import until
from .server import serve_here

COMPONENTS = [Component("pubsub", "pubsub.redis")]


@pytest.mark.parametrize("include_first", [True, False], ids=["include-first", "subscribe-first"])
async def test_a_subscription_gets_its_event_in_either_order(include_first: bool) -> None:
    app, subscriber = FastAPI(), Subscriber(environ={})
    received: list[dict[str, int]] = []
    if include_first:
        app.include_router(subscriber.router)

    @subscriber.subscribe("pubsub", "orders")
    async def on_order(event: CloudEvent[dict[str, int]]) -> None:
        received.append(event.data)

    if not include_first:
        app.include_router(subscriber.router)
    async with serve_here(app) as app_url:
        specs = [AppSpec("pub"), AppSpec("sub", app_url=app_url)]
        async with LocalSidecar(specs, COMPONENTS) as sidecar:
            pool = ServiceClientPool()
            dapr = DaprClientHelper(pool, sidecar_url=sidecar.url("pub"), environ={})
            await dapr.publish_event("pubsub", "orders", {"n": 1})
            await until(lambda: bool(received))
            await pool.aclose()
    assert received == [{"n": 1}]
