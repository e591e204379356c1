from __future__ import annotations

import httpx
import pytest
from pytest_httpx import HTTPXMock

from kugel_common import (
    ServiceClientPool,
    ServiceNotConfiguredError,
    ServiceRegistry,
    ServiceUnavailableError,
)
from kugel_common.testing import FakeClock


async def test_env_names_resolve_exactly() -> None:
    registry = ServiceRegistry(environ={
        "BASE_URL_MASTER_DATA": "http://md:8002/api/v1/",
        "BASE_URL_MASTER": "http://wrong:1",
    })
    assert (await registry.resolve("master-data")).base_urls == ("http://md:8002/api/v1",)
    with pytest.raises(ServiceNotConfiguredError) as info:
        await registry.resolve("data")  # no substring matching
    assert "BASE_URL_DATA" in str(info.value)


async def test_comma_separated_instances() -> None:
    registry = ServiceRegistry(environ={"BASE_URL_CART": "http://a:1, http://b:2"})
    assert (await registry.resolve("cart")).base_urls == ("http://a:1", "http://b:2")


async def test_bad_url_is_a_configuration_error() -> None:
    registry = ServiceRegistry(environ={"BASE_URL_CART": "a:1"})
    with pytest.raises(ServiceNotConfiguredError, match="BASE_URL_CART"):
        await registry.resolve("cart")


async def test_code_registration_wins() -> None:
    registry = ServiceRegistry(environ={"BASE_URL_CART": "http://env:1"})
    registry.register("cart", "http://code:2")
    assert (await registry.resolve("cart")).base_urls == ("http://code:2",)


async def test_dapr_invocation_from_env() -> None:
    registry = ServiceRegistry(environ={
        "BASE_URL_MASTER_DATA": "dapr://master-data/api/v1",
        "DAPR_HTTP_PORT": "3600",
        "DAPR_API_TOKEN": "s3cret",
    })
    address = await registry.resolve("master-data")
    assert address.base_urls == ("http://127.0.0.1:3600/v1.0/invoke/master-data/method/api/v1",)
    assert address.headers == {"dapr-api-token": "s3cret"}


async def test_dapr_endpoint_env_wins() -> None:
    registry = ServiceRegistry(environ={"DAPR_HTTP_ENDPOINT": "http://sidecar:3500/"})
    registry.register_dapr("terminal")
    assert (await registry.resolve("terminal")).base_urls == (
        "http://sidecar:3500/v1.0/invoke/terminal/method",
    )


async def test_missing_service_fails_before_io(httpx_mock: HTTPXMock) -> None:
    pool = ServiceClientPool(registry=ServiceRegistry(environ={}))
    with pytest.raises(ServiceNotConfiguredError, match="BASE_URL_NOPE"):
        async with pool.client("nope"):
            pass
    assert httpx_mock.get_requests() == []
    await pool.aclose()


@pytest.fixture
async def two(clock: FakeClock) -> ServiceClientPool:
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://a.test", "http://b.test")
    return ServiceClientPool(registry=registry, clock=clock)


async def test_round_robin(two: ServiceClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(is_reusable=True, json={})
    for _ in range(4):
        await two.client("svc").get("/x")
    hosts = [r.url.host for r in httpx_mock.get_requests()]
    assert hosts == ["a.test", "b.test", "a.test", "b.test"]
    await two.aclose()


async def test_retry_goes_elsewhere_and_refusing_instance_is_ejected(
    two: ServiceClientPool, httpx_mock: HTTPXMock, clock: FakeClock
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url="http://a.test/x",
                             is_reusable=True)
    httpx_mock.add_response(url="http://b.test/x", json={}, is_reusable=True)
    for _ in range(4):
        await two.client("svc").get("/x")
    hosts = [r.url.host for r in httpx_mock.get_requests()]
    assert hosts == ["a.test", "b.test", "b.test", "b.test", "b.test"]
    clock.advance(31)  # the cool-down ends: a gets another chance
    before = len(httpx_mock.get_requests())
    for _ in range(2):  # a is refused again; a POST that never reached a is resent to b
        assert await two.client("svc").post("/x", json={}) == {}
    hosts = [r.url.host for r in httpx_mock.get_requests()[before:]]
    assert hosts.count("a.test") == 1
    assert hosts.count("b.test") == 2
    await two.aclose()


async def test_every_instance_down_is_unavailable(
    two: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)
    with pytest.raises(ServiceUnavailableError):
        await two.client("svc").get("/x")
    assert len(httpx_mock.get_requests()) == 3
    await two.aclose()
