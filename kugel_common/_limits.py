"""Admission in front of the pool: an in-flight cap and an optional rate limit per service.

Waiting here happens before a connection is taken, so a burst queues in kugel instead of timing
out inside the pool, and a rate-limited dependency never sees more than it allows.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiolimiter import AsyncLimiter

__all__ = ["Admission"]


class Admission:
    def __init__(self, max_in_flight: int, rate: float | None, period: float) -> None:
        self._slots = asyncio.Semaphore(max_in_flight)
        self._rate: AsyncLimiter | None = None
        if rate:
            from aiolimiter import AsyncLimiter  # only for a service with a rate limit

            self._rate = AsyncLimiter(rate, period)

    async def acquire(self, timeout: float) -> None:
        """Wait at most ``timeout`` seconds for a slot; TimeoutError if none comes."""
        if self._slots.locked() or (self._rate is not None and not self._rate.has_capacity()):
            async with asyncio.timeout(timeout):
                await self._acquire()
        else:
            await self._acquire()  # returns at once; no timer needed

    async def _acquire(self) -> None:
        await self._slots.acquire()
        if self._rate is not None:
            try:
                await self._rate.acquire()
            except BaseException:
                self._slots.release()
                raise

    def release(self) -> None:
        self._slots.release()
