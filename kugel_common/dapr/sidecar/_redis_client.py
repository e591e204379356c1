"""A client on a component's Redis, shared by the state and pub/sub backends, and the one
place where the ``redis`` package's errors become the sidecar's.

Imported only when a Redis backend is tried: the ``redis`` package is loaded lazily.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = ["connect", "failures_as"]


async def connect(host: str, port: int, *, password: str | None = None,
                  username: str | None = None, db: int = 0, tls: bool = False,
                  timeout: float = 1.0) -> aioredis.Redis:
    """A client once Redis has answered a PING within ``timeout`` seconds (else the ``redis``
    package's error is raised). A failed command is not retried: the caller sees the error,
    as with the embedded backends."""
    client = aioredis.Redis(host=host, port=port, password=password, username=username, db=db,
                            ssl=tls, socket_connect_timeout=timeout, socket_timeout=10.0,
                            retry=Retry(NoBackoff(), 0))
    try:
        await client.ping()
    except BaseException:
        await client.aclose()
        raise
    return client


@contextlib.contextmanager
def failures_as(error: Callable[[str], Exception]) -> Iterator[None]:
    """Re-raise an error of Redis (down, timed out, a command refused) or of the socket under
    it as ``error(reason)``, the original chained: the caller answers as daprd does when its
    component fails, not with an internal error."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise error(f"Redis: {type(exc).__name__}: {exc}") from exc
