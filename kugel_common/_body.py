"""Reading a response body into memory, bounded: never more than ``limit`` decoded bytes.

Only httpx's public API: a body without ``Content-Encoding`` is read by ``Response.aread()``
through a stream wrapper that counts the bytes as they arrive; a compressed body is counted as
it is decoded (``aiter_bytes``), so that a small compressed reply cannot unpack into gigabytes,
and then handed over in a copy of the response built with ``content=``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import httpx

__all__ = ["read_bounded"]

TooLarge = Callable[[int], BaseException]


class _Bounded(httpx.AsyncByteStream):
    """A response stream that raises ``too_large(size)`` once it has passed ``limit`` bytes."""

    def __init__(self, stream: httpx.AsyncByteStream, limit: int, too_large: TooLarge) -> None:
        self._stream = stream
        self._limit = limit
        self._too_large = too_large

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._stream:
            size += len(chunk)
            if size > self._limit:
                raise self._too_large(size)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


async def read_bounded(
    response: httpx.Response, limit: int, too_large: TooLarge
) -> httpx.Response:
    """The response with its body read, or ``too_large(size)`` raised as soon as the body passes
    ``limit`` bytes (or its Content-Length says it will). The stream is closed either way."""
    declared = response.headers.get("content-length")
    try:
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large(int(declared))
        if response.headers.get("content-encoding", "identity").strip().lower() == "identity":
            assert isinstance(response.stream, httpx.AsyncByteStream)
            response.stream = _Bounded(response.stream, limit, too_large)
            await response.aread()
            return response
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_large(size)
            chunks.append(chunk)
    except BaseException:
        await response.aclose()
        raise
    return _holding(response, b"".join(chunks))


def _holding(response: httpx.Response, body: bytes) -> httpx.Response:
    """A copy of a read ``response`` that holds its decoded ``body``."""
    copy = httpx.Response(
        response.status_code,
        content=body,  # read at once; with no Content-Encoding yet, it is not decoded again
        request=response.request,
        extensions=response.extensions,
        history=response.history,
        default_encoding=response.default_encoding,
    )
    copy.headers = response.headers  # the server's, Content-Encoding included, as callers saw
    with contextlib.suppress(RuntimeError):  # unset when a mock built the body in memory
        copy.elapsed = response.elapsed
    return copy
