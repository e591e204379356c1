"""Outbound credentials: the service's own JWT, and the caller's credential passed on."""

from __future__ import annotations

import httpx
import jwt
import pytest
from starlette.requests import Request

from kugel_common import AppSettings
from kugel_common.fastapi import ServiceAuth, service_token

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


async def test_the_service_token_is_a_short_lived_jwt_the_next_service_accepts() -> None:
    settings = AppSettings(app_id="cart", jwt_secret=SECRET, jwt_ttl=30)
    headers = await sent_headers(service_token(settings))
    token = headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["tenant"], claims["exp"] - claims["iat"]) == ("cart", "*", 30)
    principal = await ServiceAuth(settings)(inbound({"Authorization": f"Bearer {token}"}))
    assert (principal.subject, principal.tenant) == ("cart", "*")


async def test_the_callers_credential_is_passed_on_as_it_came() -> None:
    auth = ServiceAuth(AppSettings(api_keys={"key-t1": "t1"}, jwt_secret=SECRET))
    principal = await auth(inbound({"X-API-KEY": "key-t1"}))
    assert (await sent_headers(principal.credential))["x-api-key"] == "key-t1"
    token = jwt.encode({"sub": "terminal", "tenant": "t1", "exp": 2**40}, SECRET)
    principal = await auth(inbound({"Authorization": f"Bearer {token}"}))
    assert (await sent_headers(principal.credential))["authorization"] == f"Bearer {token}"


def test_a_service_token_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="KUGEL_JWT_SECRET"):
        service_token(AppSettings(jwt_secret=None))
