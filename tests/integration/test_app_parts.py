"""create_app's promises about the parts it serves: every part is built at start-up, a part
redefined in a test's container is the one served, hooks given to the container reach its
pool, and a bug answers the same JSON body as every other error.

No ``from __future__ import annotations``: FastAPI reads ``Provided`` from the annotations.
"""

from typing import Annotated

import httpx
import pytest
from dependency_injector import providers
from fastapi import APIRouter, FastAPI
from pytest_httpx import HTTPXMock

from kugel_common import ClientSettings, RequestDetails, ServiceRegistry
from kugel_common.container import KugelContainer
from kugel_common.fastapi import AppSettings, Provided, ServiceTokens, create_app

router = APIRouter()


class Greeter:
    def __init__(self, word: str) -> None:
        self.word = word


class Container(KugelContainer):
    greeter = providers.Singleton(Greeter, "hello")


@router.get("/greet")
async def greet(greeter: Annotated[Greeter, Provided(Container.greeter)]) -> str:
    return greeter.word


@router.get("/bug")
async def bug() -> str:
    raise RuntimeError("secret internals: /etc/passwd")


def settings(**values: object) -> providers.Object[AppSettings]:
    return providers.Object(AppSettings(outbox_path=":memory:", **values))  # type: ignore[arg-type]


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app, raise_app_exceptions=False),
                             base_url="http://app")


async def test_a_part_that_cannot_be_built_stops_the_start() -> None:
    class WithTokens(KugelContainer):
        tokens = providers.Singleton(ServiceTokens, KugelContainer.app_settings)

    container = WithTokens()
    container.app_settings.override(settings())  # no KUGEL_JWT_SECRET
    app = create_app(container)
    with pytest.raises(ValueError, match="KUGEL_JWT_SECRET"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_subclass_that_redefines_a_part_serves_its_own() -> None:
    class TestContainer(Container):
        greeter = providers.Singleton(Greeter, "stubbed")

    container = TestContainer()
    container.app_settings.override(settings())
    async with client(create_app(container, [router])) as http:
        assert (await http.get("/greet")).json() == "stubbed"


async def test_a_bug_answers_the_json_error_body_and_shows_nothing_of_it() -> None:
    container = Container()
    container.app_settings.override(settings())
    async with client(create_app(container, [router])) as http:
        reply = await http.get("/bug")
    assert reply.status_code == 500
    assert reply.json() == {"error": {
        "code": "internal_error", "request_id": reply.headers["x-request-id"],
        "message": "the service failed to handle the request; report the request id"}}
    assert "passwd" not in reply.text


async def test_hooks_given_to_the_container_reach_its_pool(httpx_mock: HTTPXMock) -> None:
    seen: list[str] = []

    class Recorder:
        def on_request(self, details: RequestDetails) -> None:
            seen.append(details.service)

    container = Container()
    registry = ServiceRegistry(environ={})
    registry.register("upstream", "http://upstream.test")
    container.registry.override(providers.Object(registry))
    container.settings.override(providers.Object(ClientSettings(transport="httpcore")))
    container.hooks.override(providers.List(providers.Object(Recorder())))
    httpx_mock.add_response(json={})
    pool = container.http_client()
    async with pool.client("upstream") as upstream:
        await upstream.get("/x")
    assert seen == ["upstream"]
    await pool.aclose()
