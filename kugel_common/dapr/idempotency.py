"""Apply each event once, however often it is delivered: an atomic claim in the state store.

A claim is a ``first-write`` save of ``<prefix>:<event id>``: the sidecar refuses the second
one with 409, so two deliveries racing for one event cannot both win (a check-then-act read
could). The claim lives a week by default, well past any republish window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import EtagMismatchError
from ._client import DaprApi

__all__ = ["IdempotentConsumer"]

WEEK = 7 * 24 * 3600


class IdempotentConsumer:
    """``async with consumer.once(event.id) as first: if first: apply(event)``."""

    def __init__(self, dapr: DaprApi, store: str, *, ttl_seconds: int = WEEK,
                 prefix: str = "claimed") -> None:
        self._dapr = dapr
        self._store = store
        self._ttl = ttl_seconds
        self._prefix = prefix

    def _key(self, event_id: str) -> str:
        return f"{self._prefix}:{event_id}"

    async def claim(self, event_id: str) -> bool:
        """True for the first claim of the id; False when it was claimed before.

        A sidecar that cannot be reached raises: failing open would apply the event twice.
        """
        try:
            await self._dapr.save_state(self._store, self._key(event_id), {"claimed": True},
                                        concurrency="first-write", ttl_seconds=self._ttl)
        except EtagMismatchError:
            return False
        return True

    async def release(self, event_id: str) -> None:
        """Give a claim back, so that a redelivery can apply the event after a failure."""
        await self._dapr.delete_state(self._store, self._key(event_id))

    @asynccontextmanager
    async def once(self, event_id: str) -> AsyncIterator[bool]:
        """Yields whether this delivery is the first; if the block raises, the claim is given
        back, so the event is not lost, only retried."""
        first = await self.claim(event_id)
        try:
            yield first
        except BaseException:
            if first:
                await self.release(event_id)
            raise
