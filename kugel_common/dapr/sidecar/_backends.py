"""Which backend keeps each state and pub/sub component's data: chosen once, at start-up, logged.

- ``auto`` (``kugel sidecar``'s default): a ``state.redis`` or ``pubsub.redis`` component whose
  ``redisHost`` answers a PING (with its ``redisPassword``) keeps its data in that Redis, in
  daprd's own layout (``_redis_state``, ``_redis_streams``); otherwise the embedded SQLite
  store or streams, with the same rules.
- ``embedded``: never touches Redis (``LocalSidecar``'s default, so tests stay hermetic).
- ``redis``: every such component must reach its Redis, or start-up fails with
  :class:`RedisUnreachable`.

Other types are always embedded. The ``redis`` package is imported only to try Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._components import Component
from ._settings import redis_settings
from ._state import StateStore, Store, default_ttl
from ._streams import Streams

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["RedisAddress", "RedisUnreachable", "StateBackend", "open_redis_streams",
           "open_state_stores"]

logger = logging.getLogger("kugel_common.dapr.sidecar")


class StateBackend(StrEnum):
    AUTO = "auto"
    EMBEDDED = "embedded"
    REDIS = "redis"


class RedisUnreachable(ConnectionError):
    """The Redis backend was required and a component's Redis does not answer."""

    def __init__(self, component: str, host: str, reason: str, kind: str = "state store") -> None:
        super().__init__(f"{kind} {component}: no Redis answers at {host or '(none)'} "
                         f"({reason}); start one, or use the embedded backend")
        self.component, self.host, self.reason = component, host, reason


class RedisRefused(RedisUnreachable):
    """A component's Redis answered and refused it (a wrong password or user, a database it
    does not have): daprd's Init fails, and so does start-up, whatever the backend setting;
    falling back to the embedded store would hide the mistake until production."""

    def __init__(self, component: str, host: str, reason: str, kind: str = "state store") -> None:
        ConnectionError.__init__(self, f"{kind} {component}: the Redis at {host} refused it "
                                 f"({reason})")
        self.component, self.host, self.reason = component, host, reason


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where a state.redis component's Redis is, from its metadata as daprd reads it."""

    host: str
    port: int
    password: str | None = None
    username: str | None = None
    db: int = 0
    tls: bool = False

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def of(cls, component: Component) -> RedisAddress:
        """``redisHost`` is ``host[:port]`` (``redisPort``, else 6379); a ValueError says why
        the address cannot be used (none, several hosts, sentinel, no host)."""
        settings = redis_settings(component)
        if not settings.host:
            raise ValueError("no redisHost")
        if "," in settings.host or settings.redis_type.lower() not in ("", "node") or \
                settings.failover:
            raise ValueError("Redis cluster and sentinel are not supported")
        parsed = urlsplit(f"//{settings.host}")
        if not parsed.hostname:
            raise ValueError(f"redisHost {settings.host} names no host")
        return cls(parsed.hostname, parsed.port or settings.port or 6379,
                   settings.password or None, settings.username or None, settings.db,
                   settings.tls)


async def open_state_stores(components: Sequence[Component], backend: StateBackend,
                            clock: Callable[[], float],
                            database: Callable[[str], str]) -> dict[str, Store]:
    """A store per state component; ``database(component name)`` is the embedded file."""
    stores: dict[str, Store] = {}
    try:
        for component in components:
            if component.kind == "state":
                stores[component.name] = await _open(component, backend, clock,
                                                      database(component.name))
    except BaseException:
        for store in stores.values():
            await store.aclose()
        raise
    return stores


async def open_redis_streams(components: Sequence[Component],
                             backend: StateBackend) -> dict[str, Streams]:
    """The Redis streams of each pubsub.redis component that goes to Redis, by name; the
    others use the broker's embedded streams."""
    streams: dict[str, Streams] = {}
    try:
        for component in components:
            if component.kind == "pubsub" and (client := await _redis_for(component, backend)):
                from ._redis_streams import RedisStreams

                streams[component.name] = RedisStreams(client)
    except BaseException:
        for opened in streams.values():
            await opened.aclose()
        raise
    return streams


async def _open(component: Component, backend: StateBackend, clock: Callable[[], float],
                database: str) -> Store:
    ttl = default_ttl(component)  # a bad one fails start-up before Redis is reached
    client = await _redis_for(component, backend)
    if client is not None:
        from ._redis_state import RedisStateStore

        return RedisStateStore(client, ttl)
    return StateStore.of(component, clock, database)


async def _redis_for(component: Component, backend: StateBackend) -> aioredis.Redis | None:
    """A client on the component's Redis when it goes there; None: embedded (logged)."""
    name = f"{component.kind} {component.name} ({component.type})"
    if component.type in ("state.redis", "pubsub.redis") and backend is not StateBackend.EMBEDDED:
        try:
            client, address = await _connect(component)
        except RedisUnreachable as exc:
            if backend is StateBackend.REDIS or isinstance(exc, RedisRefused):
                raise
            logger.info("%s: embedded backend, as no Redis answers at %s (%s)", name,
                        exc.host or "(none)", exc.reason)
        else:
            logger.info("%s: Redis backend at %s, in daprd's data layout", name, address)
            return client
    else:
        logger.info("%s: embedded backend (backend %s)", name, backend)
    return None


async def _connect(component: Component) -> tuple[aioredis.Redis, RedisAddress]:
    host = component.metadata.get("redisHost", "")
    kind = "state store" if component.kind == "state" else component.kind
    try:
        address = RedisAddress.of(component)
    except ValueError as exc:
        raise RedisUnreachable(component.name, host, str(exc), kind) from exc
    try:
        from redis.exceptions import (
            AuthenticationError,
            AuthorizationError,
            RedisError,
            ResponseError,
        )

        from ._redis_client import connect
    except ImportError as exc:
        raise RedisUnreachable(component.name, host, "the redis package is not installed: "
                               "pip install 'kugel[sidecar]'", kind) from exc
    try:
        client = await connect(address.host, address.port, password=address.password,
                               username=address.username, db=address.db, tls=address.tls)
    except (AuthenticationError, AuthorizationError, ResponseError) as exc:
        raise RedisRefused(component.name, str(address), f"{type(exc).__name__}: {exc}",
                           kind) from exc
    except (RedisError, OSError) as exc:
        raise RedisUnreachable(component.name, str(address),
                               f"{type(exc).__name__}: {exc}", kind) from exc
    return client, address
