"""The sidecar asks an app for its subscriptions again when the answer was unusable (a wrong
APP_API_TOKEN, a 500, garbage), says why once, and subscribes when the app is fixed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from fastapi import FastAPI

from kugel_common import ServiceClientPool
from kugel_common.dapr import CloudEvent, DaprClientHelper, Subscriber
from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar

from ..waiting import until
from .server import serve_here

COMPONENTS = [Component("pubsub", "pubsub.in-memory")]


def subscribed_app(token: str, received: list[object]) -> FastAPI:
    """An app that expects ``token`` from its sidecar and subscribes to pubsub/orders."""
    subscriber = Subscriber(environ={"APP_API_TOKEN": token})

    @subscriber.subscribe("pubsub", "orders")
    async def on_order(event: CloudEvent[dict[str, int]]) -> None:
        received.append(event.data)

    app = FastAPI()
    app.include_router(subscriber.router)
    return app


class Swappable:
    """One address whose app can be replaced, as a redeploy replaces it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


async def test_a_wrong_app_token_is_named_and_the_fixed_app_is_subscribed(
        caplog: pytest.LogCaptureFixture) -> None:
    received: list[object] = []
    app = Swappable(subscribed_app("the-apps-token", received))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # no real wait: the backoff is recorded
        waits.append(seconds)

    caplog.set_level(logging.INFO, "kugel_common.dapr.sidecar")
    async with serve_here(app) as app_url:
        spec = AppSpec("orders", app_url=app_url)
        async with LocalSidecar([spec], COMPONENTS, app_api_token="not-the-apps-token",
                                sleep=sleep) as sidecar:
            await until(lambda: len(waits) >= 3)
            assert sidecar.sidecars["orders"].subscriptions == []
            refusals = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(refusals) == 1  # one line for one reason, not one per attempt
            assert "APP_API_TOKEN" in refusals[0].getMessage()
            assert "not-the-apps-token" not in caplog.text  # the token itself is never logged
            assert waits[1] > waits[0]  # backing off

            app.app = subscribed_app("not-the-apps-token", received)  # redeployed, fixed
            await until(lambda: bool(sidecar.sidecars["orders"].subscriptions))
            pool = ServiceClientPool()
            dapr = DaprClientHelper(pool, sidecar_url=sidecar.url("orders"), environ={})
            await dapr.publish_event("pubsub", "orders", {"n": 1})
            await until(lambda: received == [{"n": 1}])
            await pool.aclose()
    assert any("after it failed" in r.getMessage() for r in caplog.records
               if r.levelno == logging.INFO)


@pytest.mark.parametrize(("status", "body"), [(500, b"[]"), (200, b"not json"),
                                              (200, b'{"not": "a list"}')])
async def test_an_unusable_answer_is_asked_again(status: int, body: bytes) -> None:
    answers = [(status, body), (200, b'[{"pubsubname": "pubsub", "topic": "orders", '
                                      b'"route": "/orders"}]')]
    asked: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        code, content = answers[min(len(asked), 1)]
        asked.append(code)
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": content})

    async def sleep(seconds: float) -> None:
        pass

    async with serve_here(app) as app_url, LocalSidecar(
            [AppSpec("orders", app_url=app_url)], COMPONENTS, sleep=sleep) as sidecar:
        await until(lambda: bool(sidecar.sidecars["orders"].subscriptions))
        assert [s.topic for s in sidecar.sidecars["orders"].subscriptions] == ["orders"]
        assert len(asked) == 2


async def test_no_subscribe_route_is_final() -> None:
    """404: the app has no programmatic subscriptions, as daprd reads it; nothing is retried."""
    asked: list[str] = []
    app = FastAPI()

    @app.middleware("http")
    async def count(request: Any, call_next: Any) -> Any:
        asked.append(request.url.path)
        return await call_next(request)

    async def sleep(seconds: float) -> None:
        raise AssertionError("a 404 is not retried")

    async with serve_here(app) as app_url, LocalSidecar(
            [AppSpec("orders", app_url=app_url)], COMPONENTS, sleep=sleep) as sidecar:
        discovery = next(t for t in asyncio.all_tasks() if t.get_name() == "subscribe orders")
        await until(discovery.done)
        assert discovery.exception() is None
        assert asked == ["/dapr/subscribe"]
        assert sidecar.sidecars["orders"].subscriptions == []
