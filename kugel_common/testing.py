"""Test helpers: a clock that only moves when told, the retry testing mode, and a breaker
store shared in memory (two pools as two replicas)."""

from __future__ import annotations

import asyncio

from ._breaker_store import InMemoryBreakerStore
from ._testing_mode import Testing, set_testing

__all__ = ["FakeClock", "InMemoryBreakerStore", "Testing", "set_testing"]


class FakeClock:
    """A :class:`~kugel_common.Clock` whose ``sleep`` advances time instantly and is recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)
