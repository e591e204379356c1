"""httpx on aiohttp's connection pool, with failures mapped by what they mean for a resend.

aiohttp's pool is 2-4x faster than httpcore's under concurrency (docs/performance.md). The
httpx-aiohttp package maps a dropped connection to ``ConnectTimeout``, which would make a POST
that reached the server look unsent, and leaves aiohttp's own resend on, which stacks with
kugel's retries. This transport keeps the one rule that matters: only a failure that proves the
request never left is reported as a connect failure, and kugel alone decides on resends.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

__all__ = ["AiohttpTransport"]

# First match wins, so the specific classes come before their bases.
_MAPPING: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    # aiohttp's connect timeout covers waiting for a pooled connection and the TCP connect.
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS handshake
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),  # it may have the request
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # e.g. a malformed status line
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.ReadError),  # a reset after connecting: it may have the request
)

# httpx sets these itself; aiohttp must not add its own (no octet-stream Content-Type on bodies).
_SKIP_AUTO_HEADERS = frozenset({"Content-Type", "User-Agent", "Accept", "Accept-Encoding"})


class _NotResent(aiohttp.ClientError):
    """A connection that dropped after the request may have been sent, as aiohttp must not see
    it: it would resend an idempotent request once by itself (see :func:`_no_resend`)."""

    def __init__(self, dropped: aiohttp.ClientError) -> None:
        super().__init__(str(dropped))
        self.dropped = dropped


async def _no_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Client middleware that turns aiohttp's own resend off, through its public API.

    aiohttp resends an idempotent request once when a reused connection drops (ClientOSError,
    ServerDisconnectedError) and offers no public switch (aio-libs/aiohttp#10790). kugel's
    retry policy owns resends and counts them against the budget, so this middleware hands such
    a drop to aiohttp as another ClientError, which aiohttp raises as it is.
    tests/integration/test_transports.py fails if aiohttp resends anyway.
    """
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # never sent, and aiohttp does not resend it
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise _NotResent(exc) from exc


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except aiohttp.ClientError as exc:
        original = exc.dropped if isinstance(exc, _NotResent) else exc
        mapped = next(target for source, target in _MAPPING if isinstance(original, source))
        raise mapped(str(original) or type(original).__name__) from original


@functools.lru_cache(maxsize=256)
def _timeout(
    pool: float | None, connect: float | None, read: float | None
) -> aiohttp.ClientTimeout:
    """httpx's phases in aiohttp's terms; cached, as most calls use the configured values."""
    return aiohttp.ClientTimeout(
        connect=None if pool is None or connect is None else pool + connect,
        sock_connect=connect,
        sock_read=read,
    )


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class _CountingConnector(aiohttp.TCPConnector):
    """Counts the connections it opens: a connection is new when its protocol object is.
    aiohttp's TraceConfig would tell too, but costs a tenth of each call (bench/, c=10)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opened = 0
        self._seen: weakref.WeakSet[object] = weakref.WeakSet()

    async def connect(self, *args: Any, **kwargs: Any) -> aiohttp.connector.Connection:
        connection = await super().connect(*args, **kwargs)
        protocol = connection.protocol
        if protocol is not None and protocol not in self._seen:
            self._seen.add(protocol)
            self.opened += 1
        return connection


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` whose pool is one ``aiohttp.ClientSession``."""

    def __init__(self, *, verify: ssl.SSLContext | bool, limits: httpx.Limits) -> None:
        self._verify = verify
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._connector: _CountingConnector | None = None
        self._reported = 0

    def _open_session(self) -> aiohttp.ClientSession:
        connector = self._connector = _CountingConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 0,
            ssl=self._verify,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            # The pool is shared by callers: aiohttp must not keep a cookie for the next one.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes Content-Encoding
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            middlewares=(_no_resend,),  # kugel alone decides on resends
        )
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open_session()
        timeout: dict[str, float | None] = request.extensions.get("timeout", {})
        pool, connect = timeout.get("pool"), timeout.get("connect")
        body: Any
        try:
            body = request.content or None
        except httpx.RequestNotRead:  # a streamed upload
            body = request.stream
        with _mapped_errors():
            response = await self._session.request(
                request.method,
                URL(str(request.url), encoded=True),  # already quoted: never re-normalise
                headers=CIMultiDict(
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in request.headers.raw
                ),
                data=body,
                allow_redirects=False,
                compress=False,
                timeout=_timeout(pool, connect, timeout.get("read")),
            )
        await self._report_new_connections(request.extensions.get("trace"))
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response),
            request=request,
            extensions=extensions,
        )

    async def _report_new_connections(self, trace: Any) -> None:
        """Pass new connections on to the request's httpcore-style ``trace`` extension. When
        several services share the transport (one origin), the request that reports a new
        connection is not always the one that opened it; the total over them is right."""
        assert self._connector is not None
        new, self._reported = self._connector.opened - self._reported, self._connector.opened
        if trace is not None:
            for _ in range(new):
                await trace("connection.connect_tcp.complete", {})

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
