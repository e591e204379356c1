"""Two apps built from one module, served from one event loop: each reaches only its own
upstream, through its injected repository, through ``get_service_client`` and from a task
started in a request; and each has its own breaker.

No ``from __future__ import annotations``: FastAPI reads ``Provided`` from the annotations.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from dependency_injector import providers
from fastapi import APIRouter, FastAPI

from kugel_common import (
    ClientSettings,
    NoCurrentAppError,
    ServiceClientPool,
    ServiceRegistry,
    get_service_client,
)
from kugel_common.container import KugelContainer
from kugel_common.fastapi import AppSettings, Provided, create_app
from kugel_common.repositories import WebRepository

from .server import serve_here


class Upstream(WebRepository):
    service = "upstream"

    async def who(self) -> str:
        return (await self.fetch(dict[str, str], "/who"))["name"]


class Container(KugelContainer):
    upstream = providers.Singleton(Upstream, KugelContainer.http_client)


router = APIRouter()


@router.get("/via-repository")
async def via_repository(upstream: Annotated[Upstream, Provided(Container.upstream)]) -> str:
    return await upstream.who()


@router.get("/via-lookup")
async def via_lookup() -> str:
    async with get_service_client("upstream") as client:
        return str((await client.get("/who"))["name"])


@router.get("/via-task")
async def via_task() -> str:
    return await asyncio.create_task(via_lookup())  # a task started in a request inherits it


def upstream_app(name: str, hits: Counter[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    async def who() -> dict[str, str]:
        hits[name] += 1
        return {"name": name}

    return app


def build(url: str) -> tuple[Container, FastAPI]:
    container = Container()
    registry = ServiceRegistry(environ={})
    registry.register("upstream", url)
    container.registry.override(providers.Object(registry))
    container.settings.override(providers.Object(ClientSettings()))
    container.app_settings.override(providers.Object(AppSettings(outbox_path=":memory:")))
    return container, create_app(container, [router])


@pytest.fixture
async def hits() -> Counter[str]:
    return Counter()


@pytest.fixture
async def apps(hits: Counter[str]) -> AsyncIterator[dict[str, tuple[Container, str]]]:
    async with (serve_here(upstream_app("one", hits)) as one,
                serve_here(upstream_app("two", hits)) as two):
        (container_a, app_a), (container_b, app_b) = build(one), build(two)
        async with (serve_here(app_a, lifespan="on") as url_a,
                    serve_here(app_b, lifespan="on") as url_b):
            yield {"one": (container_a, url_a), "two": (container_b, url_b)}


async def test_each_app_reaches_only_its_own_upstream(
    apps: dict[str, tuple[Container, str]], hits: Counter[str]
) -> None:
    async with httpx.AsyncClient() as http:
        async def ask(expected: str, route: str) -> None:
            reply = await http.get(apps[expected][1] + route)
            assert reply.status_code == 200, reply.text
            assert reply.json() == expected

        routes = ("/via-repository", "/via-lookup", "/via-task")
        await asyncio.gather(*(ask(name, route) for _ in range(20) for name in ("one", "two")
                               for route in routes))
    assert hits == {"one": 60, "two": 60}
    pools = [container.http_client() for container, _ in apps.values()]
    assert pools[0] is not pools[1]
    assert pools[0].registry is not pools[1].registry


async def test_each_app_has_its_own_breaker(
    apps: dict[str, tuple[Container, str]], hits: Counter[str]
) -> None:
    (container_a, url_a), (_, url_b) = apps["one"], apps["two"]
    pool: ServiceClientPool = container_a.http_client()
    await pool.isolate_breaker("upstream")
    async with httpx.AsyncClient() as http:
        refused = await http.get(url_a + "/via-lookup")
        served = await http.get(url_b + "/via-lookup")
    assert refused.status_code == 503 and served.json() == "two"
    assert hits == {"two": 1}


async def test_outside_an_app_there_is_no_current_pool() -> None:
    with pytest.raises(NoCurrentAppError, match="create_app"):
        get_service_client("upstream")
