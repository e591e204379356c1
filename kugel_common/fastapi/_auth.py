"""Service-to-service auth, inbound: ``X-API-KEY`` or a service JWT, failing closed.

A missing or invalid credential is 401; a valid one for another tenant than the path's
``tenant_id`` is 403. What makes a JWT valid is in :mod:`._tokens`. A credential in the query
string (``?access_token=``, ``?token=``, ``?api_key=``...) is refused with 401 even beside a
good header: URLs end up in logs and proxies, so the credential is already spent, and saying so
beats ignoring it. Keys and secrets come from :class:`~kugel_common.fastapi.AppSettings`, never from
code or images, and are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
from fastapi import Request

from .._app_settings import AppSettings
from .._auth import ApiKeyAuth, BearerAuth
from ._errors import ApiError
from ._tokens import ANY_TENANT, TokenVerifier

__all__ = ["Principal", "ServiceAuth", "authenticated"]

QUERY_CREDENTIALS = frozenset({"access_token", "token", "jwt", "api_key", "apikey", "x-api-key"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, for which tenant, and the credential it came with.

    An API key can be passed on as it is; a service JWT names this service as its audience, so
    the next service refuses it: call on with :class:`~kugel_common.fastapi.ServiceTokens`.
    """

    subject: str
    tenant: str
    credential: httpx.Auth

    def may_act_for(self, tenant: str) -> bool:
        return self.tenant in (ANY_TENANT, tenant)


def _digest(key: str) -> bytes:
    """Keys are compared as SHA-256 digests: equal lengths, so the compare leaks no length."""
    return hashlib.sha256(key.encode()).digest()


class ServiceAuth:
    """Verifies a request's credential: ``await auth(request)`` -> :class:`Principal`."""

    def __init__(self, settings: AppSettings, clock: Callable[[], float] = time.time) -> None:
        self._keys = tuple((_digest(key), tenant) for key, tenant in settings.api_keys.items())
        self._tokens = TokenVerifier(settings) if settings.jwt_secret is not None else None
        self._clock = clock

    async def __call__(self, request: Request) -> Principal:
        principal = self._principal(request)
        tenant = request.path_params.get("tenant_id")
        if tenant is not None and not principal.may_act_for(str(tenant)):
            raise ApiError(403, "forbidden", f"not allowed to act for tenant {tenant!r}")
        return principal

    def _principal(self, request: Request) -> Principal:
        if any(name.lower() in QUERY_CREDENTIALS for name in request.query_params):
            raise _unauthorized("credentials in the query string are refused; send "
                                "X-API-KEY or an Authorization header")
        key = request.headers.get("x-api-key")
        if key is not None:
            return self._by_key(key)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token and self._tokens is not None:
            try:
                subject, tenant = self._tokens.verify(token, self._clock())
            except jwt.PyJWTError as exc:
                raise _unauthorized(f"the service token is not valid: {exc}") from exc
            return Principal(subject, tenant, BearerAuth(token))
        raise _unauthorized("send X-API-KEY or a service token")

    def _by_key(self, key: str) -> Principal:
        """Every known key is compared, whichever matches, so timing tells none of them."""
        presented = _digest(key)
        tenants = [tenant for known, tenant in self._keys
                   if hmac.compare_digest(presented, known)]
        if not tenants:
            raise _unauthorized("the API key is not valid")
        return Principal("api-key", tenants[0], ApiKeyAuth(key))


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def authenticated(request: Request) -> Principal:
    """A FastAPI dependency: ``principal: Principal = Depends(authenticated)``."""
    auth: ServiceAuth = request.app.state.service_auth
    return await auth(request)
