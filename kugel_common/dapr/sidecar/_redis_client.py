"""A client on a component's Redis, shared by the state and pub/sub backends.

Imported only when a Redis backend is tried: the ``redis`` package is loaded lazily.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["connect"]


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
