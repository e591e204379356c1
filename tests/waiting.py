"""Bounded waits for the tests: a condition polled every 10 ms, sync or async."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from kugel_common.dapr.sidecar._broker import Broker

__all__ = ["drained", "until"]


async def until(condition: Callable[[], bool | Awaitable[bool]], seconds: float = 5.0) -> None:
    for _ in range(int(seconds * 100)):
        result = condition()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never got there")


async def drained(broker: Broker, group: str, pubsub: str, topic: str) -> bool:
    """The group has acked every event of the topic: ``lambda: done and drained(...)``."""
    return await broker.pending(group, pubsub, topic) == 0
