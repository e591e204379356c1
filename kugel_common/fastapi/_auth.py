"""Service-to-service auth: inbound ``X-API-KEY`` or an HS256 service JWT, outbound tokens.

A missing or wrong credential is 401; a valid one for another tenant than the path's
``tenant_id`` is 403. Keys and secrets come from :class:`~kugel_common.AppSettings`, never
from code or images, and are never logged.
"""

from __future__ import annotations

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

__all__ = ["Principal", "ServiceAuth", "authenticated", "issue_service_token", "service_token"]

ANY_TENANT = "*"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, for which tenant, and the credential to forward downstream."""

    subject: str
    tenant: str
    credential: httpx.Auth

    def may_act_for(self, tenant: str) -> bool:
        return self.tenant in (ANY_TENANT, tenant)


def issue_service_token(secret: str, subject: str, *, tenant: str = ANY_TENANT,
                        ttl: int = 60, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": subject, "tenant": tenant, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def service_token(settings: AppSettings) -> BearerAuth:
    """This service's own outbound credential: a short-lived JWT, minted again when refused."""
    if settings.jwt_secret is None:
        raise ValueError("service_token needs KUGEL_JWT_SECRET")
    secret = settings.jwt_secret.get_secret_value()

    async def mint() -> str:
        return issue_service_token(secret, settings.app_id, ttl=settings.jwt_ttl)

    return BearerAuth(provider=mint)


class ServiceAuth:
    """Verifies a request's credential: ``await auth(request)`` -> :class:`Principal`."""

    def __init__(self, settings: AppSettings, clock: Callable[[], float] = time.time) -> None:
        self._keys = dict(settings.api_keys)
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._clock = clock

    async def __call__(self, request: Request) -> Principal:
        principal = self._principal(request)
        tenant = request.path_params.get("tenant_id")
        if tenant is not None and not principal.may_act_for(str(tenant)):
            raise ApiError(403, "forbidden", f"not allowed to act for tenant {tenant!r}")
        return principal

    def _principal(self, request: Request) -> Principal:
        key = request.headers.get("x-api-key")
        if key is not None:
            for known, tenant in self._keys.items():
                if hmac.compare_digest(key.encode(), known.encode()):
                    return Principal("api-key", tenant, ApiKeyAuth(key))
            raise _unauthorized("the API key is not valid")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token and self._secret is not None:
            try:
                claims = jwt.decode(token, self._secret, algorithms=["HS256"],
                                    options={"require": ["exp", "sub"]}, leeway=5)
            except jwt.PyJWTError as exc:
                raise _unauthorized(f"the service token is not valid ({type(exc).__name__})") \
                    from exc
            return Principal(str(claims["sub"]), str(claims.get("tenant", ANY_TENANT)),
                             BearerAuth(token))
        raise _unauthorized("send X-API-KEY or a service token")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def authenticated(request: Request) -> Principal:
    """A FastAPI dependency: ``principal: Principal = Depends(authenticated)``."""
    auth: ServiceAuth = request.app.state.service_auth
    return await auth(request)
