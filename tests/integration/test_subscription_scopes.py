"""``subscriptionScopes`` on real sockets: daprd does not start a subscription its scopes
refuse (pkg/runtime/subscription/subscription.go, New), and delivers the others."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from kugel_common import ServiceClientPool
from kugel_common.dapr import CloudEvent, DaprClientHelper, Subscriber
from kugel_common.dapr.sidecar import AppSpec, Component

from ..backends import Backend
from .server import serve_here


async def test_a_subscription_the_scopes_refuse_is_not_started(backend: Backend) -> None:
    scoped = Component("scoped", "pubsub.redis", metadata={"subscriptionScopes": "sub=allowed"})
    received: list[str] = []
    subscriber = Subscriber(environ={})

    @subscriber.subscribe("scoped", "allowed")
    async def on_allowed(event: CloudEvent[str]) -> None:
        received.append(event.data)

    @subscriber.subscribe("scoped", "refused")
    async def on_refused(event: CloudEvent[str]) -> None:
        received.append(event.data)

    app = FastAPI()
    app.include_router(subscriber.router)
    async with serve_here(app) as app_url:
        specs = [AppSpec("pub"), AppSpec("sub", app_url=app_url)]
        async with backend.sidecar(specs, [scoped]) as sidecar:
            pool = ServiceClientPool()
            dapr = DaprClientHelper(pool, sidecar_url=sidecar.url("pub"), environ={})
            await dapr.publish_event("scoped", "refused", "no")
            await dapr.publish_event("scoped", "allowed", "yes")
            for _ in range(250):
                if received:
                    break
                await asyncio.sleep(0.02)
            await pool.aclose()
            listed = [s.topic for s in sidecar.sidecars["sub"].subscriptions]
    assert received == ["yes"]
    assert listed == ["allowed"]
