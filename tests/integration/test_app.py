"""A kugel FastAPI service end to end: wiring, auth, errors, overrides, health and lifespan.

No ``from __future__ import annotations`` in a module of endpoints: FastAPI reads the
``Annotated[..., Provided(...)]`` markers from evaluated annotations.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from dependency_injector import providers
from fastapi import APIRouter, Depends, FastAPI

from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry, set_testing
from kugel_common.container import KugelContainer
from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar
from kugel_common.fastapi import (
    AppSettings,
    Principal,
    Provided,
    authenticated,
    create_app,
    issue_service_token,
)
from kugel_common.repositories import ItemMasterWebRepository
from kugel_common.schemas import Item

from .server import serve_here
from .upstream import ITEM, Knobs, point_at, upstream_app

SECRET = "test-jwt-secret-of-at-least-32-bytes"
KEYS = {"key-t1": "t1", "key-t2": "t2", "key-any": "*"}
OPERATOR = {"X-API-KEY": "key-any"}


class Container(KugelContainer):
    item_master = providers.Singleton(ItemMasterWebRepository, KugelContainer.http_client)


router = APIRouter()


@router.get("/tenants/{tenant_id}/stores/{store}/items/{code:path}")
async def get_item(
    tenant_id: str, store: str, code: str,
    principal: Annotated[Principal, Depends(authenticated)],
    items: Annotated[ItemMasterWebRepository, Provided(Container.item_master)],
) -> Item:
    return await items.get_item(tenant_id, store, code)


@router.get("/tenants/{tenant_id}/count")
async def count(
    tenant_id: str, n: int, principal: Annotated[Principal, Depends(authenticated)]
) -> int:
    return n



@pytest.fixture
def knobs() -> Knobs:
    return Knobs()


@pytest.fixture
async def upstream(knobs: Knobs) -> AsyncIterator[str]:
    async with serve_here(upstream_app(knobs)) as url:
        yield url


def build(upstream: str, *, dapr_enabled: bool = False) -> tuple[Container, FastAPI]:
    container = point_at(Container(), upstream)
    container.app_settings.override(providers.Object(AppSettings(
        app_id="cart", api_keys=KEYS, jwt_secret=SECRET, outbox_path=":memory:",
        dapr_enabled=dapr_enabled, sidecar_timeout=5)))
    return container, create_app(container, [router])


@pytest.fixture
async def client(upstream: str) -> AsyncIterator[httpx.AsyncClient]:
    _, app = build(upstream)
    async with serve_here(app, lifespan="on") as url, httpx.AsyncClient(base_url=url) as http:
        yield http


ITEM_PATH = "/tenants/t1/stores/s1/items/A%2F1"


async def test_auth_401_403_and_a_service_jwt(client: httpx.AsyncClient) -> None:
    missing = await client.get(ITEM_PATH)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert (await client.get(ITEM_PATH, headers={"X-API-KEY": "nope"})).status_code == 401
    wrong_tenant = await client.get(ITEM_PATH, headers={"X-API-KEY": "key-t2"})
    assert (wrong_tenant.status_code, wrong_tenant.json()["error"]["code"]) == (403, "forbidden")
    for key in ("key-t1", "key-any"):
        reply = await client.get(ITEM_PATH, headers={"X-API-KEY": key})
        assert reply.status_code == 200 and reply.json()["unit_price"] == "1.10"

    token = issue_service_token(SECRET, "terminal", audience="cart", tenant="t1")
    ok = await client.get(ITEM_PATH, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    stale = issue_service_token(SECRET, "terminal", audience="cart", tenant="t1",
                                now=time.time() - 3600)
    forged = issue_service_token("another-secret-of-at-least-32-bytes", "terminal",
                                 audience="cart", tenant="t1")
    other = issue_service_token(SECRET, "terminal", audience="cart", tenant="t2")
    statuses = [(await client.get(ITEM_PATH, headers={"Authorization": f"Bearer {t}"}))
                .status_code for t in (stale, forged, other)]
    assert statuses == [401, 401, 403]


async def test_errors_share_one_body(client: httpx.AsyncClient, knobs: Knobs,
                                     upstream: str) -> None:
    headers = {"X-API-KEY": "key-t1"}
    missing = await client.get("/tenants/t1/stores/s1/items/nope", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    invalid = await client.get("/tenants/t1/count", params={"n": "many"}, headers=headers)
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "validation_error")
    assert invalid.json()["error"]["details"][0]["loc"] == ["query", "n"]
    knobs.fail_next = [503] * 50
    with set_testing(True):
        down = await client.get("/tenants/t1/stores/s1/items/B", headers=headers)
    assert down.status_code == 503
    assert down.json()["error"]["code"] in ("dependency_unavailable", "circuit_open")
    assert int(down.headers["retry-after"]) >= 1
    assert down.json()["error"]["message"].startswith("master-data ")
    for reply in (missing, invalid, down):  # a real upstream's address is never shown
        assert upstream.removeprefix("http://") not in reply.text
        assert reply.json()["error"]["request_id"] == reply.headers["x-request-id"]


async def test_health_and_ready(client: httpx.AsyncClient, knobs: Knobs) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "app_id": "cart",
                                                     "outbox_relay": "running"}
    await client.get(ITEM_PATH, headers={"X-API-KEY": "key-t1"})
    ready = await client.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    anonymous = await client.get("/dependencies")
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "unauthorized")
    token = issue_service_token(SECRET, "operator", audience="cart", tenant="t1")
    by_jwt = await client.get("/dependencies", headers={"Authorization": f"Bearer {token}"})
    assert by_jwt.status_code == 200
    seen = (await client.get("/dependencies", headers=OPERATOR)).json()
    assert seen["services"]["master-data"]["breaker"] == "closed"
    master_data = seen["services"]["master-data"]
    assert list(master_data["endpoints"]) == ["/tenants/{tenant}/stores/{store}/items/{code}"]
    assert master_data["total"]["requests"] == 1 and master_data["connections_opened"] == 1
    assert seen["outbox"] == {"relay": "running", "restarts": 0, "last_error": None, "held": 0,
                              "pending": 0, "delivered": 0, "parked": 0,
                              "oldest_waiting_seconds": None}
    knobs.fail_next = [500] * 100
    with set_testing(True):
        for _ in range(ClientSettings().breaker_failure_threshold):
            await client.get("/tenants/t1/stores/s1/items/C", headers={"X-API-KEY": "key-t1"})
    seen = (await client.get("/dependencies", headers=OPERATOR)).json()
    assert seen["services"]["master-data"]["breaker"] == "open"
    still_ready = await client.get("/ready")  # master-data's outage is not cart's to report
    assert (still_ready.status_code, still_ready.json()) == (200, {"status": "ready"})
    assert sum(knobs.hits.values()) <= 102  # /health and /ready touched no dependency


async def test_overriding_the_http_client_reaches_every_caller(upstream: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**ITEM, "description": "from the fake pool"})

    container, app = build(upstream)
    registry = ServiceRegistry(environ={})
    registry.register("master-data", "http://fake.test/api")
    fake = ServiceClientPool(registry=registry,
                             transport=lambda _n, _s: httpx.MockTransport(answer))
    container.http_client.override(providers.Object(fake))
    async with serve_here(app, lifespan="on") as url, httpx.AsyncClient(base_url=url) as http:
        reply = await http.get(ITEM_PATH, headers={"X-API-KEY": "key-t1"})
    assert reply.json()["description"] == "from the fake pool"
    assert fake.closed  # the app's shutdown closed the pool it was given


async def test_the_registry_override_is_what_the_app_resolves(upstream: str) -> None:
    container, app = build(upstream)  # the registry points master-data at the upstream app
    async with serve_here(app, lifespan="on") as url, httpx.AsyncClient(base_url=url) as http:
        reply = await http.get(ITEM_PATH, headers={"X-API-KEY": "key-t1"})
    assert reply.json()["description"] == "Tea"
    assert (await container.registry().resolve("master-data")).base_urls == (f"{upstream}/api",)


async def test_shutdown_leaves_no_pool_or_task_open(upstream: str) -> None:
    container, app = build(upstream)
    before = asyncio.all_tasks()
    async with serve_here(app, lifespan="on") as url, httpx.AsyncClient(base_url=url) as http:
        await http.get(ITEM_PATH, headers={"X-API-KEY": "key-t1"})
        pool = container.http_client()
        assert not pool.closed and pool.breaker_states()
        assert any(t.get_name() == "outbox relay" for t in asyncio.all_tasks())
    await asyncio.sleep(0)
    assert pool.closed
    assert pool.breaker_states() == {}  # every channel, and its httpx client, closed
    assert asyncio.all_tasks() - before == set()


async def test_a_service_with_a_sidecar_waits_for_it_and_reports_it(
    upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sidecar = LocalSidecar([AppSpec("cart")], [Component("statestore", "state.redis")])
    await sidecar.start()
    monkeypatch.setenv("DAPR_HTTP_ENDPOINT", sidecar.url("cart"))
    _, app = build(upstream, dapr_enabled=True)
    async with serve_here(app, lifespan="on") as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/ready")
        assert (ready.status_code, ready.json()["sidecar"]) == (200, "reachable")
        await sidecar.stop()
        with set_testing(True):
            gone = await http.get("/ready")
        assert (gone.status_code, gone.json()["sidecar"]) == (503, "unreachable")
        assert (await http.get("/health")).status_code == 200  # liveness is not readiness
