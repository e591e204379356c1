"""Outbound credentials: the service's own JWT per audience, and the caller's passed on."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from pytest_httpx import HTTPXMock
from starlette.requests import Request

from kugel_common import ServiceClientPool, ServiceRegistry
from kugel_common.fastapi import AppSettings, ServiceTokens, issue_service_token
from kugel_common.fastapi._auth import ServiceAuth
from kugel_common.fastapi._tokens import service_token

SECRET = "a-service-secret-of-at-least-32-bytes"


async def sent_headers(auth: httpx.Auth) -> httpx.Headers:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await client.get("http://downstream.test/x", auth=auth)
    return seen[0].headers


def inbound(headers: dict[str, str], tenant: str = "t1") -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": b"",
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                    "path_params": {"tenant_id": tenant}})


def bearer(headers: httpx.Headers) -> str:
    return headers["authorization"].removeprefix("Bearer ")


async def test_the_service_token_names_its_audience_and_that_service_accepts_it() -> None:
    cart = AppSettings(app_id="cart", jwt_secret=SECRET, jwt_ttl=30)
    token = bearer(await sent_headers(service_token(cart, "master-data")))
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="master-data")
    assert (claims["sub"], claims["aud"], claims["tenant"], claims["exp"] - claims["iat"]) \
        == ("cart", "master-data", "*", 30)
    master_data = AppSettings(app_id="master-data", jwt_secret=SECRET,
                              jwt_allow_all_tenants=True)
    principal = await ServiceAuth(master_data)(inbound({"Authorization": f"Bearer {token}"}))
    assert (principal.subject, principal.tenant) == ("cart", "*")


async def test_service_tokens_give_one_credential_per_service_called(
    httpx_mock: HTTPXMock,
) -> None:
    tokens = ServiceTokens(AppSettings(app_id="cart", jwt_secret=SECRET))
    assert tokens.for_service("terminal") is tokens.for_service("terminal")
    assert tokens.for_service("terminal") is not tokens.for_service("master-data")
    registry = ServiceRegistry(environ={})
    registry.register("terminal", "http://terminal.test")
    registry.register("master-data", "http://master-data.test")
    httpx_mock.add_response(json={}, is_reusable=True)
    pool = ServiceClientPool(registry=registry)
    try:
        await pool.client("terminal", auth=tokens).get("/x")
        await pool.client("master-data", auth=tokens).get("/x")
    finally:
        await pool.aclose()
    audiences = [jwt.decode(bearer(r.headers), SECRET, algorithms=["HS256"],
                            options={"verify_aud": False})["aud"]
                 for r in httpx_mock.get_requests()]
    assert audiences == ["terminal", "master-data"]
    assert SECRET not in repr(tokens)


async def test_the_callers_credential_is_passed_on_as_it_came() -> None:
    auth = ServiceAuth(AppSettings(app_id="cart", api_keys={"key-t1": "t1"}, jwt_secret=SECRET))
    principal = await auth(inbound({"X-API-KEY": "key-t1"}))
    assert (await sent_headers(principal.credential))["x-api-key"] == "key-t1"
    token = issue_service_token(SECRET, "terminal", audience="cart", tenant="t1")
    principal = await auth(inbound({"Authorization": f"Bearer {token}"}))
    assert (await sent_headers(principal.credential))["authorization"] == f"Bearer {token}"


async def test_the_clock_decides_expiry_not_the_wall() -> None:
    auth = ServiceAuth(AppSettings(app_id="cart", jwt_secret=SECRET), clock=lambda: 1000.0)
    token = issue_service_token(SECRET, "terminal", audience="cart", tenant="t1", now=990)
    assert (await auth(inbound({"Authorization": f"Bearer {token}"}))).tenant == "t1"
    assert time.time() > 990 + 60  # the wall clock says expired; the injected one does not


@pytest.mark.parametrize("make", [lambda s: service_token(s, "cart"), ServiceTokens])
def test_service_tokens_need_a_secret(make: object) -> None:
    with pytest.raises(ValueError, match="KUGEL_JWT_SECRET"):
        make(AppSettings(jwt_secret=None))  # type: ignore[operator]


def test_an_outbound_lifetime_over_the_inbound_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="must not exceed KUGEL_JWT_MAX_LIFETIME"):
        AppSettings(jwt_ttl=301, jwt_max_lifetime=300)
