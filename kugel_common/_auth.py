"""Outbound credentials as ``httpx.Auth`` flows, applied per request, never to the shared pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Protocol

import httpx

__all__ = ["ApiKeyAuth", "BasicAuth", "BearerAuth", "ServiceCredentials", "TokenProvider"]

BasicAuth = httpx.BasicAuth

TokenProvider = Callable[[], Awaitable[str]]


class ServiceCredentials(Protocol):
    """A credential per service called, for tokens that name their audience: give one where
    an ``auth`` is taken, and each call gets ``for_service(<the service's name>)``."""

    def for_service(self, name: str) -> httpx.Auth: ...


def auth_for(name: str, auth: httpx.Auth | ServiceCredentials | None) -> httpx.Auth | None:
    """The credential for calls to service ``name``."""
    if auth is None or isinstance(auth, httpx.Auth):
        return auth
    return auth.for_service(name)


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` from a static token or an async provider.

    With a provider, a 401 or 403 fetches a fresh token and sends the request once more: tokens
    that expire or rotate heal themselves. Concurrent callers share one refresh.
    """

    def __init__(self, token: str | None = None, *, provider: TokenProvider | None = None) -> None:
        if token is None and provider is None:
            raise ValueError("BearerAuth needs a token or a provider")
        self._token = token
        self._provider = provider
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"BearerAuth(token={'***' if self._token else None}, provider={self._provider!r})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is None:
            raise RuntimeError("BearerAuth with an async provider needs an async client")
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    async def _refresh(self, stale: str | None) -> str:
        assert self._provider is not None
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or self._token == stale:
                self._token = await self._provider()
            return self._token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._token if self._token is not None else await self._refresh(None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if self._provider is not None and response.status_code in (401, 403):
            token = await self._refresh(token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


class ApiKeyAuth(httpx.Auth):
    """A static key in a header, ``X-API-KEY`` unless told otherwise."""

    def __init__(self, key: str, header: str = "X-API-KEY") -> None:
        self._key = key
        self._header = header

    def __repr__(self) -> str:
        return f"ApiKeyAuth(header={self._header!r}, key='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._key
        yield request
