"""``HttpClientHelper``: one caller's handle on a service.

The handle is cheap. It shares its service's pool, breaker, budget and metrics with every other
handle, and keeps only what is the caller's own: auth and extra headers. Those travel with each
request and never become defaults of the shared pool.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Protocol

import httpx

from ._call import Call
from ._channel import ServiceChannel
from ._clock import Clock
from ._paths import fill_path
from ._redact import redact_url
from .errors import HttpClientError, InvalidRequestError

__all__ = ["HttpClientHelper"]

Headers = Mapping[str, str]
Params = Mapping[str, Any]

_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token


class Channels(Protocol):
    """Where a handle finds its service's shared channel: a ``ServiceClientPool``."""

    clock: Clock

    async def channel(self, name: str, *, timeout: float | None = None) -> ServiceChannel: ...


class HttpClientHelper:
    def __init__(
        self,
        channels: Channels,
        service: str,
        *,
        auth: httpx.Auth | None = None,
        headers: Headers | None = None,
    ) -> None:
        self._channels = channels
        self._channel: ServiceChannel | None = None
        self.service = service
        #: Per-caller auth; replace it at any time. None falls back to the service's auth.
        self.auth = auth
        self._headers = httpx.Headers(headers) if headers else None

    async def _resolved(self, timeout: float | None = None) -> ServiceChannel:
        """The service's channel; a first lookup waits at most the call's deadline (a bad
        ``timeout`` is refused by ``_send`` right after, so it falls back to the default)."""
        if self._channel is None:
            usable = timeout is not None and math.isfinite(timeout) and timeout > 0
            self._channel = await self._channels.channel(
                self.service, timeout=timeout if usable else None)
        return self._channel

    async def __aenter__(self) -> HttpClientHelper:
        """Resolves the service, so a name nobody configured fails here."""
        await self._resolved()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leaving the context closes nothing: the pool outlives it and is reused."""

    async def _send(
        self,
        method: str,
        endpoint: str,
        *,
        params: Params | None,
        json: Any,
        data: Any,
        content: bytes | None,
        headers: Headers | None,
        timeout: float | None,
        path_params: Mapping[str, object] | None,
        idempotent: bool,
        stream: bool,
        caller_fault: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """Build the call and send it on the service's channel. The deadline starts before a
        first call's lookup, so the lookup counts against it."""
        started = self._channels.clock.now()
        channel = await self._resolved(timeout)
        if not _METHOD.fullmatch(method):
            raise self._invalid(method, f"{method!r} is not an HTTP method")
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise self._invalid(method, f"timeout={timeout!r}: a deadline is a positive number "
                                "of seconds")
        merged = self._headers
        if headers:
            try:
                merged = httpx.Headers(self._headers)
                merged.update(headers)
            except (TypeError, UnicodeEncodeError) as exc:  # an int, or "€" (not latin-1)
                raise self._invalid(method, f"headers must be latin-1 strings: {exc}") from exc
        return await channel.send(Call(
            method=method.upper(),
            endpoint=fill_path(endpoint, path_params) if path_params else endpoint,
            template=endpoint,
            params={k: v for k, v in params.items() if v is not None} if params else None,
            json=json,
            data=data,
            content=content,
            headers=merged,
            auth=self.auth,
            deadline=started + (channel.settings.deadline if timeout is None else timeout),
            stream=stream,
            idempotent=idempotent,
            caller_fault=caller_fault,
        ))

    def _invalid(self, method: str, reason: str) -> InvalidRequestError:
        return InvalidRequestError(f"{self.service}: {reason}", service=self.service,
                                   method=method)

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
        path_params: Mapping[str, object] | None = None,
        idempotent: bool = False,
        caller_fault: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """Send one call and return the response, whose status is below 400.

        ``timeout`` is the call's total deadline in seconds, across every attempt. Endpoints may
        be templates such as ``"/items/{code}"`` filled from ``path_params``, each value
        URL-encoded as one segment; metrics are kept per template. ``idempotent=True`` lets a
        POST or PATCH be resent like a GET, for calls the server dedupes (an event with its id).
        ``caller_fault`` tells a 5xx that reports the request's own fault (a protocol's error
        code) from a sick server, so that it does not count against the breaker.
        """
        return await self._send(method, endpoint, params=params, json=json, data=data,
                                content=content, headers=headers, timeout=timeout,
                                path_params=path_params, idempotent=idempotent, stream=False,
                                caller_fault=caller_fault)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        endpoint: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
        path_params: Mapping[str, object] | None = None,
        idempotent: bool = False,
    ) -> AsyncIterator[httpx.Response]:
        """Like :meth:`request`, but the body is not read: iterate it, e.g. for SSE.

        Retries and the deadline cover the call up to the response headers.
        """
        response = await self._send(method, endpoint, params=params, json=json, data=data,
                                    content=content, headers=headers, timeout=timeout,
                                    path_params=path_params, idempotent=idempotent, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    async def _json(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        response = await self.request(method, endpoint, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            url = redact_url(response.request.url)
            raise HttpClientError(
                f"{self.service}: {method} {url}: the response body is not JSON",
                service=self.service,
                method=method,
                url=url,
                status_code=response.status_code,
                response=response,
            ) from exc

    async def get(
        self,
        endpoint: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
        path_params: Mapping[str, object] | None = None,
    ) -> Any:
        """The decoded JSON body, or None for 204 or an empty body."""
        return await self._json("GET", endpoint, params=params, headers=headers, timeout=timeout,
                                path_params=path_params)

    async def delete(
        self,
        endpoint: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
        path_params: Mapping[str, object] | None = None,
    ) -> Any:
        return await self._json("DELETE", endpoint, params=params, headers=headers,
                                timeout=timeout, path_params=path_params)

    async def post(
        self,
        endpoint: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
        path_params: Mapping[str, object] | None = None,
        idempotent: bool = False,
    ) -> Any:
        return await self._json("POST", endpoint, params=params, json=json, data=data,
                                content=content, headers=headers, timeout=timeout,
                                path_params=path_params, idempotent=idempotent)

    async def put(
        self,
        endpoint: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
        path_params: Mapping[str, object] | None = None,
    ) -> Any:
        return await self._json("PUT", endpoint, params=params, json=json, data=data,
                                content=content, headers=headers, timeout=timeout,
                                path_params=path_params)

    async def patch(
        self,
        endpoint: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
        path_params: Mapping[str, object] | None = None,
        idempotent: bool = False,
    ) -> Any:
        return await self._json("PATCH", endpoint, params=params, json=json, data=data,
                                content=content, headers=headers, timeout=timeout,
                                path_params=path_params, idempotent=idempotent)
