"""A TTL cache whose concurrent misses for one key make one load (single flight).

Expiry and eviction are cachetools' ``TTLCache`` with kugel's clock as its timer, so tests move
time instead of sleeping; the single flight is one future per key being loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

from ._clock import Clock

__all__ = ["LoadingCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    """At most ``max_size`` entries, each for ``ttl`` seconds. Failures are not cached."""

    def __init__(self, ttl: float, max_size: int, clock: Clock) -> None:
        self._entries: TTLCache[K, V] = TTLCache(maxsize=max_size, ttl=ttl, timer=clock.now)
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            return self._entries[key]
        except KeyError:
            pass
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._load(key, load))
        # shield: a caller that gives up does not cancel the load the others wait for
        return await asyncio.shield(loading)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await load()
            self._entries[key] = value
            return value
        finally:
            del self._loading[key]

    def clear(self) -> None:
        self._entries.clear()
