from __future__ import annotations

import httpx
import pytest
from pytest_httpx import HTTPXMock

from kugel_common import ApiKeyAuth, BasicAuth, BearerAuth, ServiceClientPool


async def test_bearer_static(pool: ServiceClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={})
    await pool.client("svc", auth=BearerAuth("t1")).get("/x")
    assert httpx_mock.get_request().headers["authorization"] == "Bearer t1"


async def test_bearer_refreshes_once_on_401(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    tokens = iter(["old", "new"])
    fetched: list[str] = []

    async def provider() -> str:
        fetched.append(token := next(tokens))
        return token

    httpx_mock.add_response(status_code=401, match_headers={"Authorization": "Bearer old"})
    httpx_mock.add_response(json={"ok": 1}, match_headers={"Authorization": "Bearer new"})
    client = pool.client("svc", auth=BearerAuth(provider=provider))
    assert await client.get("/x") == {"ok": 1}
    assert fetched == ["old", "new"]


async def test_bearer_refresh_is_not_a_loop(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    async def provider() -> str:
        return "always-bad"

    httpx_mock.add_response(status_code=403, is_reusable=True)
    with pytest.raises(Exception, match="403"):
        await pool.client("svc", auth=BearerAuth(provider=provider)).get("/x")
    assert len(httpx_mock.get_requests()) == 2


async def test_api_key_and_basic(pool: ServiceClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    await pool.client("svc", auth=ApiKeyAuth("k1")).get("/a")
    await pool.client("svc", auth=ApiKeyAuth("k2", header="X-Other")).get("/b")
    await pool.client("svc", auth=BasicAuth("u", "p")).get("/c")
    a, b, c = httpx_mock.get_requests()
    assert a.headers["x-api-key"] == "k1"
    assert b.headers["x-other"] == "k2"
    assert c.headers["authorization"].startswith("Basic ")


async def test_auth_switches_at_run_time_and_never_leaks(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    caller = pool.client("svc", auth=BearerAuth("mine"))
    other = pool.client("svc")
    await caller.get("/1")
    await other.get("/2")  # shares the pool, but not the caller's credentials
    caller.auth = ApiKeyAuth("switched")
    await caller.get("/3")
    pool.set_auth("svc", BearerAuth("service-token"))
    await other.get("/4")
    r1, r2, r3, r4 = httpx_mock.get_requests()
    assert r1.headers["authorization"] == "Bearer mine"
    assert "authorization" not in r2.headers
    assert "authorization" not in r3.headers and r3.headers["x-api-key"] == "switched"
    assert r4.headers["authorization"] == "Bearer service-token"
    assert "authorization" not in (await pool.channel("svc")).client.headers


def test_reprs_hide_secrets() -> None:
    assert "t0ken" not in repr(BearerAuth("t0ken"))
    assert "k3y" not in repr(ApiKeyAuth("k3y"))


def test_bearer_needs_something() -> None:
    with pytest.raises(ValueError):
        BearerAuth()
    flow = BearerAuth("t").sync_auth_flow(httpx.Request("GET", "http://x"))
    assert next(flow).headers["authorization"] == "Bearer t"


async def test_cookies_never_carry_over_between_callers(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={}, headers={"Set-Cookie": "session=alice-secret; Path=/"})
    httpx_mock.add_response(json={})
    await pool.client("svc").get("/login")
    await pool.client("svc").get("/other")
    assert "cookie" not in httpx_mock.get_requests()[1].headers
    with pytest.raises(TypeError, match="no cookies"):
        (await pool.channel("svc")).client.cookies = {"session": "x"}  # type: ignore[assignment]
