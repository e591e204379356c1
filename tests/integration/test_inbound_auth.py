"""Inbound auth fails closed: each way a credential can be wrong, through a real FastAPI app.

The app is ``create_app``'s, over ``httpx.ASGITransport``; its ``ServiceAuth`` reads a fixed
clock, so expiry and ``nbf`` are tested without waiting. Tokens that PyJWT will not make
(``alg=none``, RS256 without a key, HS256 keyed with a public key) are put together by hand.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import jwt
import pytest
from dependency_injector import providers
from fastapi import APIRouter, Depends

from kugel_common.container import KugelContainer
from kugel_common.fastapi import AppSettings, Principal, authenticated, create_app
from kugel_common.fastapi._auth import ServiceAuth

NOW = 1_700_000_000
SECRET = "inbound-test-jwt-secret-of-32-bytes"
PUBLIC_KEY = ("-----BEGIN PUBLIC KEY-----\n"
              "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
              "-----END PUBLIC KEY-----\n")
KEY = "inbound-test-api-key"

router = APIRouter()


@router.get("/tenants/{tenant_id}/whoami")
async def whoami(tenant_id: str,
                 principal: Annotated[Principal, Depends(authenticated)]) -> dict[str, str]:
    return {"subject": principal.subject, "tenant": principal.tenant}


def claims(**changes: Any) -> dict[str, Any]:
    """A good token's claims for tenant t1 at cart; ``name=None`` leaves a claim out."""
    base = {"sub": "terminal", "aud": "cart", "tenant": "t1", "iat": NOW, "exp": NOW + 60}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def token(**changes: Any) -> str:
    return jwt.encode(claims(**changes), SECRET, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def by_hand(alg: str, key: bytes | None) -> str:
    """A token with header ``alg``, HMAC-SHA256-signed with ``key``, or with a made-up
    signature when there is none to make."""
    head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims()).encode())
    signing_input = f"{head}.{body}".encode()
    if key is None:
        signature = b"" if alg == "none" else b"\x01" * 256
    else:
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@asynccontextmanager
async def serve(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    container = KugelContainer()
    app_settings = AppSettings(app_id="cart", jwt_secret=SECRET, api_keys={KEY: "t1"},
                               outbox_path=":memory:", **settings)
    container.app_settings.override(providers.Object(app_settings))
    app = create_app(container, [router])
    app.state.service_auth = ServiceAuth(app_settings, clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://test") as client:
        yield client


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with serve() as client:
        yield client


REFUSED = [
    pytest.param(bearer(token(tenant=None)), "", 401, 'missing the "tenant" claim',
                 id="no tenant claim"),
    pytest.param(bearer(token(tenant="*")), "", 401, "every tenant is refused",
                 id="all tenants, not allowed"),
    pytest.param(bearer(token(aud=None)), "", 401, 'missing the "aud" claim', id="no audience"),
    pytest.param(bearer(token(aud="master-data")), "", 401, "Audience doesn't match",
                 id="wrong audience"),
    pytest.param(bearer(token(aud=["cart", "master-data"])), "", 401, "Invalid claim format",
                 id="several audiences"),
    pytest.param(bearer(token(exp=NOW + 301)), "", 401, "longer than 300 s",
                 id="over-long lifetime"),
    pytest.param(bearer(token(exp=32503680000)), "", 401, "longer than 300 s",
                 id="valid until the year 3000"),
    pytest.param(bearer(token(iat=None)), "", 401, 'missing the "iat" claim', id="no iat"),
    pytest.param(bearer(by_hand("none", None)), "", 401, "alg value is not allowed",
                 id="alg=none"),
    pytest.param(bearer(by_hand("RS256", None)), "", 401, "alg value is not allowed",
                 id="RS256"),
    pytest.param(bearer(by_hand("HS256", PUBLIC_KEY.encode())), "", 401,
                 "Signature verification failed", id="HS256 keyed with a public key"),
    pytest.param(bearer(token(iat=NOW - 70, exp=NOW - 10)), "", 401, "expired", id="expired"),
    pytest.param(bearer(token(nbf=NOW + 10, exp=NOW + 60)), "", 401, "not valid yet",
                 id="future nbf"),
    pytest.param(bearer(token(iat=NOW + 10, exp=NOW + 70)), "", 401, "not valid yet",
                 id="future iat"),
    pytest.param(bearer(token(exp="soon")), "", 401, "exp must be a number",
                 id="exp not a number"),
    pytest.param({}, f"?access_token={token()}", 401, "query string", id="access_token query"),
    pytest.param({}, f"?token={token()}", 401, "query string", id="token query"),
    pytest.param({"X-API-KEY": KEY}, f"?api_key={KEY}", 401, "query string",
                 id="query credential beside a good header"),
    pytest.param({"X-API-KEY": "not-" + KEY}, "", 401, "API key is not valid", id="bad key"),
    pytest.param(bearer(token(tenant="t2")), "", 403, "tenant 't1'", id="other tenant"),
]


@pytest.mark.parametrize(("headers", "query", "status", "reason"), REFUSED)
async def test_a_bad_credential_is_refused(api: httpx.AsyncClient, headers: dict[str, str],
                                           query: str, status: int, reason: str) -> None:
    reply = await api.get(f"/tenants/t1/whoami{query}", headers=headers)
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["code"] == ("unauthorized" if status == 401 else "forbidden")
    assert reason in error["message"]


ACCEPTED = [
    pytest.param(bearer(token()), "terminal", id="token for the tenant"),
    pytest.param(bearer(token(exp=NOW + 300)), "terminal", id="lifetime at the maximum"),
    pytest.param(bearer(token(iat=NOW - 64, exp=NOW - 4)), "terminal",
                 id="expired within the leeway"),
    pytest.param(bearer(token(nbf=NOW + 4)), "terminal", id="nbf within the leeway"),
    pytest.param({"X-API-KEY": KEY}, "api-key", id="API key"),
]


@pytest.mark.parametrize(("headers", "subject"), ACCEPTED)
async def test_a_good_credential_is_accepted(api: httpx.AsyncClient, headers: dict[str, str],
                                             subject: str) -> None:
    reply = await api.get("/tenants/t1/whoami?cursor=5", headers=headers)
    assert (reply.status_code, reply.json()) == (200, {"subject": subject, "tenant": "t1"})


async def test_a_token_for_every_tenant_only_where_a_setting_allows_it() -> None:
    async with serve(jwt_allow_all_tenants=True) as api:
        reply = await api.get("/tenants/t2/whoami", headers=bearer(token(tenant="*")))
        assert (reply.status_code, reply.json()) == (200, {"subject": "terminal", "tenant": "*"})
