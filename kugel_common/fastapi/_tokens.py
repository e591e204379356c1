"""Service JWTs: minted for one audience, verified closed.

A token is accepted only when every one of these holds; anything else is refused:

- it is HS256, signed with our secret: the algorithm is pinned, so ``alg=none``, RS256, or
  HS256 keyed with someone's public key all fail;
- ``aud`` is this service's ``app_id`` (one string, not a list), so one service's token does
  not open another;
- ``sub`` names the caller, and ``tenant`` names one tenant; ``"*"`` (every tenant) only where
  ``KUGEL_JWT_ALLOW_ALL_TENANTS`` allows it;
- ``iat`` and ``exp`` are present, ``exp - iat`` is at most ``KUGEL_JWT_MAX_LIFETIME``, and now
  lies between ``iat``/``nbf`` and ``exp``, give or take :data:`LEEWAY` seconds of clock skew.

The times are checked against the injected clock, not PyJWT's, so tests never sleep.
"""

from __future__ import annotations

import math
import time

import jwt

from .._app_settings import AppSettings
from .._auth import BearerAuth

__all__ = ["ServiceTokens", "issue_service_token", "service_token"]

ANY_TENANT = "*"
LEEWAY = 5
ALGORITHM = "HS256"
REQUIRED = ["sub", "aud", "tenant", "iat", "exp"]


def issue_service_token(secret: str, subject: str, *, audience: str, tenant: str,
                        ttl: int = 60, now: float | None = None) -> str:
    """A JWT that ``subject`` sends to the service ``audience``, for ``tenant``."""
    issued = int(time.time() if now is None else now)
    claims = {"sub": subject, "aud": audience, "tenant": tenant, "iat": issued,
              "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _secret(settings: AppSettings) -> str:
    if settings.jwt_secret is None:
        raise ValueError("service tokens need KUGEL_JWT_SECRET")
    return settings.jwt_secret.get_secret_value()


def service_token(settings: AppSettings, audience: str) -> BearerAuth:
    """This service's credential for calls to ``audience``: a short-lived JWT for every
    tenant, minted again when refused."""
    secret = _secret(settings)

    async def mint() -> str:
        return issue_service_token(secret, settings.app_id, audience=audience,
                                   tenant=ANY_TENANT, ttl=settings.jwt_ttl)

    return BearerAuth(provider=mint)


class ServiceTokens:
    """This service's outbound credentials, one per service called, since each token names
    its audience. Give it as ``auth`` to ``get_service_client`` or a repository."""

    def __init__(self, settings: AppSettings) -> None:
        _secret(settings)  # fail at wiring, not at the first call
        self._settings = settings
        self._tokens: dict[str, BearerAuth] = {}

    def __repr__(self) -> str:
        return f"ServiceTokens(subject={self._settings.app_id!r})"

    def for_service(self, name: str) -> BearerAuth:
        auth = self._tokens.get(name)
        if auth is None:
            auth = self._tokens[name] = service_token(self._settings, name)
        return auth


class TokenVerifier:
    """Checks an inbound service JWT against this service's settings; see the module doc."""

    def __init__(self, settings: AppSettings) -> None:
        self._secret = _secret(settings)
        self._audience = settings.app_id
        self._max_lifetime = settings.jwt_max_lifetime
        self._allow_all_tenants = settings.jwt_allow_all_tenants

    def verify(self, token: str, now: float) -> tuple[str, str]:
        """The token's subject and tenant; :class:`jwt.InvalidTokenError` saying why not."""
        claims = jwt.decode(
            token, self._secret, algorithms=[ALGORITHM], audience=self._audience,
            options={"require": REQUIRED, "strict_aud": True, "verify_exp": False,
                     "verify_nbf": False, "verify_iat": False})
        self._check_times(claims, now)
        subject, tenant = claims["sub"], claims["tenant"]
        if not isinstance(tenant, str) or not tenant or not subject:
            raise jwt.InvalidTokenError("sub and tenant must be non-empty strings")
        if tenant == ANY_TENANT and not self._allow_all_tenants:
            raise jwt.InvalidTokenError(
                "a token for every tenant is refused here (KUGEL_JWT_ALLOW_ALL_TENANTS)")
        return subject, tenant

    def _check_times(self, claims: dict[str, object], now: float) -> None:
        issued, expires = _seconds(claims, "iat"), _seconds(claims, "exp")
        starts = max(issued, _seconds(claims, "nbf") if "nbf" in claims else issued)
        if expires <= issued:
            raise jwt.InvalidTokenError("exp is not after iat")
        if expires - issued > self._max_lifetime:
            raise jwt.InvalidTokenError(
                f"the token lives longer than {self._max_lifetime} s (KUGEL_JWT_MAX_LIFETIME)")
        if expires <= now - LEEWAY:
            raise jwt.ExpiredSignatureError("the token has expired")
        if starts > now + LEEWAY:
            raise jwt.ImmatureSignatureError("the token is not valid yet (iat or nbf)")


def _seconds(claims: dict[str, object], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise jwt.InvalidTokenError(f"{name} must be a number of seconds")
    return float(value)
