"""The local sidecar on real sockets: restarts, service invocation, and the official Dapr SDK
as a second, independent client (its health wait and HTTP invocation are not our code)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import shutil
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from kugel_common import DaprUnavailableError, ServiceClientPool, set_testing
from kugel_common.dapr import CloudEvent, DaprClientHelper, Subscriber
from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar, host_address

from ..backends import Backend
from ..redis_server import redis_server
from ..waiting import until
from .server import serve_here

COMPONENTS = [Component("pubsub", "pubsub.redis"), Component("statestore", "state.redis")]


def orders_app() -> tuple[FastAPI, list[object]]:
    """An app subscribed to pubsub/orders, and the data of each event it got."""
    received: list[object] = []
    subscriber = Subscriber(environ={})

    @subscriber.subscribe("pubsub", "orders")
    async def on_order(event: CloudEvent[dict[str, int]]) -> None:
        received.append(event.data)

    app = FastAPI()
    app.include_router(subscriber.router)
    return app, received


async def test_state_and_undelivered_events_survive_a_restart(
        tmp_path: Path, backend: Backend) -> None:
    app, received = orders_app()

    async with backend.sidecar([AppSpec("writer")], COMPONENTS, data_dir=tmp_path) as sidecar:
        pool = ServiceClientPool()
        dapr = DaprClientHelper(pool, sidecar_url=sidecar.url("writer"), environ={})
        await dapr.save_state("statestore", "k", {"v": 1})
        await dapr.publish_event("pubsub", "orders", {"n": 1})  # nobody subscribes yet
        await pool.aclose()

    async with serve_here(app) as app_url:
        specs = [AppSpec("writer"), AppSpec("reader", app_url=app_url)]
        async with backend.sidecar(specs, COMPONENTS, data_dir=tmp_path) as sidecar:
            pool = ServiceClientPool()
            dapr = DaprClientHelper(pool, sidecar_url=sidecar.url("writer"), environ={})
            assert await dapr.get_state("statestore", "k") == {"v": 1}
            for _ in range(250):
                if received:
                    break
                await asyncio.sleep(0.02)
            await pool.aclose()
    assert received == [{"n": 1}]


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/orders/{order_id}", methods=["GET", "POST"])
    async def order(order_id: str, request: Request) -> dict[str, object]:
        return {"order": order_id, "body": (await request.body()).decode(),
                "query": request.url.query,
                "app_token": request.headers.get("dapr-api-token"),
                "caller": request.headers.get("dapr-caller-app-id")}

    @app.get("/who")
    async def who(request: Request) -> Response:
        """Which identity headers arrived, answered with headers a proxy must not merge."""
        seen = {name: request.headers.getlist(name) for name in (
            "dapr-caller-app-id", "dapr-callee-app-id", "dapr-caller-namespace",
            "x-forwarded-for", "x-forwarded-host", "forwarded")}
        response = Response(gzip.compress(json.dumps(seen).encode()), 203,
                            headers={"content-encoding": "gzip", "x-app": "1"})
        response.raw_headers += [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
        return response

    return app


async def test_invocation_stamps_who_calls_and_passes_the_answer_through() -> None:
    async with serve_here(echo_app()) as app_url:
        specs = [AppSpec("caller"), AppSpec("orders", app_url=app_url)]
        async with LocalSidecar(specs, COMPONENTS) as sidecar, httpx.AsyncClient() as http:
            direct = await http.get(f"{app_url}/who")
            spoofed = {"dapr-caller-app-id": "admin", "dapr-callee-app-id": "x",
                       "dapr-caller-namespace": "prod"}
            proxied = await http.get(f"{sidecar.url('caller')}/v1.0/invoke/orders/method/who",
                                     headers=spoofed)
            assert proxied.status_code == direct.status_code == 203
            seen = proxied.json()
            assert seen["dapr-caller-app-id"] == ["caller"]  # replaced, not appended
            assert seen["dapr-callee-app-id"] == ["orders"]
            assert seen["dapr-caller-namespace"] == ["default"]  # NAMESPACE unset, as daprd
            assert seen["x-forwarded-for"] == [host_address()]  # daprd: GetHostAddress
            assert len(seen["x-forwarded-host"]) == len(seen["forwarded"]) == 1
            assert direct.json()["dapr-caller-app-id"] == []

            def headers(reply: httpx.Response) -> list[tuple[str, str]]:
                return sorted((k, v) for k, v in reply.headers.multi_items()
                              if k not in ("date", "content-length"))  # the bodies differ

            assert headers(proxied) == headers(direct)  # gzip, both cookies, x-app, server
            assert len(proxied.headers.get_list("date")) == 1
            plain = await http.get(f"{sidecar.url('caller')}/v1.0/metadata")
            assert len(plain.headers.get_list("date")) == 1  # the sidecar's own answers too


async def test_service_invocation_both_ways_and_by_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with serve_here(echo_app()) as app_url:
        specs = [AppSpec("caller"), AppSpec("orders", app_url=app_url)]
        async with LocalSidecar(specs, COMPONENTS, api_token="sidecar-token",
                                app_api_token="app-token") as sidecar:
            base = sidecar.url("caller")
            async with httpx.AsyncClient(base_url=base,
                                         headers={"dapr-api-token": "sidecar-token"}) as http:
                reply = await http.post("/v1.0/invoke/orders/method/orders/7?x=1", content=b"hi")
                assert reply.json() == {"order": "7", "body": "hi", "query": "x=1",
                                        "app_token": "app-token", "caller": "caller"}
                reply = await http.get("/orders/8", headers={"dapr-app-id": "orders"})
                assert reply.json()["order"] == "8"
                reply = await http.get("/orders/a+b", headers={"dapr-app-id": "orders"})
                assert reply.json()["order"] == "a+b"  # the app's path: no query unescaping
                reply = await http.get("/v1.0/invoke/orders/method/nowhere")
                assert reply.status_code == 404  # the app's status comes back unchanged
                unknown = await http.get("/v1.0/invoke/ghost/method/x")
                assert unknown.json()["errorCode"] == "ERR_DIRECT_INVOKE"

            monkeypatch.setenv("DAPR_HTTP_ENDPOINT", base)
            monkeypatch.setenv("DAPR_API_TOKEN", "sidecar-token")
            monkeypatch.setenv("DAPR_HEALTH_TIMEOUT", "5")

            def with_the_sdk() -> tuple[int, bytes]:
                from dapr.clients.health import DaprHealth
                from dapr.clients.http.dapr_invocation_http_client import (
                    DaprInvocationHttpClient,
                )

                DaprHealth.wait_for_sidecar()
                response = DaprInvocationHttpClient(timeout=5).invoke_method(
                    "orders", "orders/9", b'{"a": 1}', content_type="application/json",
                    http_verb="POST")
                return response.status_code, response.data

            status, data = await asyncio.to_thread(with_the_sdk)
            assert status == 200
            assert b'"order":"9"' in data and b'"app_token":"app-token"' in data
            assert b'"caller":"caller"' in data  # the sidecar's identity, with any client


async def test_a_broker_outage_is_daprds_500_and_state_stays_up(backend: Backend) -> None:
    async with backend.sidecar([AppSpec("pub")], COMPONENTS) as sidecar:
        pool = ServiceClientPool()
        dapr = DaprClientHelper(pool, sidecar_url=sidecar.url("pub"), environ={})
        sidecar.broker.set_available(False)
        with set_testing(True), pytest.raises(DaprUnavailableError) as info:
            await dapr.publish_event("pubsub", "orders", {"n": 1})
        assert info.value.error_code == "ERR_PUBSUB_PUBLISH_MESSAGE"
        with set_testing(True):
            result = await dapr.publish_events("pubsub", "orders", [1, 2], event_ids=["a", "b"])
        assert [entry.entry_id for entry in result.failed] == ["a", "b"]
        await dapr.save_state("statestore", "k", 1)  # state does not depend on the broker
        sidecar.broker.set_available(True)
        await dapr.pool.reset_breaker("dapr:pubsub")
        await dapr.publish_event("pubsub", "orders", {"n": 2})
        assert await sidecar.broker.pending("nobody", "pubsub", "orders") == 1
        await pool.aclose()


async def test_a_redis_outage_fails_each_call_as_daprd_does_until_redis_is_back(
        tmp_path: Path) -> None:
    """On the Redis backend an outage is Redis itself going away: every call answers daprd's
    500 and errorCode for what it did (none is ERR_INTERNAL), and the same sidecar serves
    and delivers again once a Redis answers at the component's address."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    app, received = orders_app()
    with contextlib.ExitStack() as first:
        server = first.enter_context(redis_server(tmp_path))
        async with serve_here(app) as app_url, \
                Backend(server).sidecar([AppSpec("pub"), AppSpec("sub", app_url=app_url)],
                                        COMPONENTS) as sidecar, \
                httpx.AsyncClient(base_url=sidecar.url("pub")) as http:
            state = "/v1.0/state/statestore"
            assert (await http.post(state, json=[{"key": "k", "value": 1}])).status_code == 204
            first.close()  # Redis goes away
            transaction = {"operations": [{"operation": "upsert",
                                           "request": {"key": "k", "value": 3}}]}
            for method, path, body, code in [
                ("POST", "/v1.0/publish/pubsub/orders", {"n": 1}, "ERR_PUBSUB_PUBLISH_MESSAGE"),
                ("GET", f"{state}/k", None, "ERR_STATE_GET"),
                ("POST", state, [{"key": "k", "value": 2}], "ERR_STATE_SAVE"),
                ("DELETE", f"{state}/k", None, "ERR_STATE_DELETE"),
                ("POST", f"{state}/transaction", transaction, "ERR_STATE_TRANSACTION"),
            ]:
                reply = await http.request(method, path, json=body)
                assert (reply.status_code, reply.json()["errorCode"]) == (500, code)
            bulk = await http.post("/v1.0/publish/bulk/pubsub/orders", json=[
                {"entryId": "a", "event": {"n": 2}, "contentType": "application/json"}])
            assert bulk.status_code == 500
            assert bulk.json()["errorCode"] == "ERR_PUBSUB_PUBLISH_MESSAGE"
            assert [e["entryId"] for e in bulk.json()["failedEntries"]] == ["a"]
            got = await http.post(f"{state}/bulk", json={"keys": ["k"]})  # an error per key
            assert got.status_code == 200
            [item] = got.json()
            assert set(item) == {"key", "error"} and item["key"] == "k"

            with redis_server(tmp_path, port=server.port):  # back, empty
                assert (await http.get(f"{state}/k")).status_code == 204
                published = await http.post("/v1.0/publish/pubsub/orders", json={"n": 3})
                assert published.status_code == 204
                await until(lambda: bool(received))  # the reader made its group again
                assert received == [{"n": 3}]
