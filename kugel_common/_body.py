"""Reading a response body into memory, bounded: never more than ``limit`` decoded bytes."""

from __future__ import annotations

from collections.abc import Callable

import httpx

__all__ = ["read_bounded"]


async def read_bounded(
    response: httpx.Response, limit: int, too_large: Callable[[int], BaseException]
) -> None:
    """Buffer the body, raising ``too_large(size)`` as soon as it passes ``limit`` bytes (or
    its Content-Length says it will). The response is closed either way."""
    declared = response.headers.get("content-length")
    chunks: list[bytes] = []
    size = 0
    try:
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large(int(declared))
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_large(size)
            chunks.append(chunk)
    except BaseException:
        await response.aclose()
        raise
    # httpx's own aread() stores the body the same way; doing it here lets us stop early.
    response._content = b"".join(chunks)
    await response.aclose()
