"""Breaker state shared between replicas: the :class:`BreakerStore` seam.

Without a store (the default) each process keeps its breakers to itself, in memory, in the
breaker: nothing is added to a call. With a store, replicas share what matters to their callers:
that a dependency is open (and for how long), or isolated by an operator.

**Sync or async.** The breaker decides on the hot path, synchronously, from its local state; it
never waits for the store. The store is async so that it can do network I/O (Redis, a database):

- *Write-through*: every local state change is written by one background task per breaker.
  Writes are coalesced (the task writes the breaker's state as it is when it writes), so they
  never block a call and never land out of order.
- *Refresh*: at most once every ``REFRESH_INTERVAL`` seconds, a call starts a background read of
  the shared state and goes on with the local decision. A shared ``open`` with time left opens a
  closed or half-open breaker until the same moment; a shared ``isolated`` isolates it; a shared
  ``closed`` releases an isolation (an operator's reset on one replica resets all). An open
  breaker closes only through its own probes.
- A read that started before a local change is dropped, and no read starts while a write is
  pending, so an older shared state never undoes a newer local one.
- A store that raises, or takes longer than ``STORE_TIMEOUT`` seconds, is logged and ignored:
  the breaker carries on locally. A store can slow no call and break none.

``BreakerSnapshot.retry_after`` is relative (seconds from now), so replicas need not share a
clock: a store keeps it as an expiry and answers with the time left, as Redis does with
``SET key value PX <ms>`` and ``PTTL``. :class:`InMemoryBreakerStore` is the model, shared by
the pools of one process that are given the same instance (and by tests).

Breakers of kugel's own targets (``ServiceClientPool.add``: a replica's Dapr sidecar) are never
shared: another replica's sidecar is another sidecar.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ._clock import Clock, SystemClock

if TYPE_CHECKING:
    from ._breaker import BreakerState

__all__ = [
    "REFRESH_INTERVAL",
    "STORE_TIMEOUT",
    "BreakerSnapshot",
    "BreakerStore",
    "InMemoryBreakerStore",
    "StoreLink",
]

logger = logging.getLogger("kugel_common.breaker")

REFRESH_INTERVAL = 1.0  # seconds between reads of the shared state, per breaker
STORE_TIMEOUT = 1.0  # seconds one load or save may take before it is given up


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    state: BreakerState
    retry_after: float = 0.0  # seconds until an open breaker lets a probe through


class BreakerStore(Protocol):
    """Where replicas share their breakers' states, by service name."""

    async def load(self, service: str) -> BreakerSnapshot | None: ...

    async def save(self, service: str, snapshot: BreakerSnapshot) -> None: ...


class InMemoryBreakerStore:
    """A :class:`BreakerStore` in this process's memory, for the pools given the same one."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._states: dict[str, tuple[BreakerState, float]] = {}  # state, open until

    async def load(self, service: str) -> BreakerSnapshot | None:
        entry = self._states.get(service)
        if entry is None:
            return None
        state, until = entry
        return BreakerSnapshot(state, max(0.0, until - self._clock.now()))

    async def save(self, service: str, snapshot: BreakerSnapshot) -> None:
        self._states[service] = (snapshot.state, self._clock.now() + snapshot.retry_after)


class StoreLink:
    """One breaker's background link to a store: write-through and refresh, as above."""

    def __init__(
        self,
        service: str,
        store: BreakerStore,
        clock: Clock,
        current: Callable[[], BreakerSnapshot],
        adopt: Callable[[BreakerSnapshot, int], None],
    ) -> None:
        self._service = service
        self._store = store
        self._clock = clock
        self._current = current
        self._adopt = adopt
        self._next_read = float("-inf")
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None

    def changed(self) -> None:
        """The breaker changed state locally: write it, soon."""
        self._dirty = True
        if not _running(self._writer):
            self._writer = self._spawn(self._write())

    def refresh(self, generation: int) -> None:
        """Read the shared state in the background, if it is time; ``generation`` is the
        breaker's now, so that the answer is dropped if the breaker changes meanwhile."""
        now = self._clock.now()
        if now < self._next_read or _running(self._writer) or _running(self._reader):
            return
        self._next_read = now + REFRESH_INTERVAL
        self._reader = self._spawn(self._read(generation))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        try:
            return asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no event loop: e.g. isolate() from synchronous code
            work.close()
            logger.warning("breaker %s: not shared, no running event loop", self._service)
            return None

    async def _write(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                async with asyncio.timeout(STORE_TIMEOUT):
                    await self._store.save(self._service, self._current())
            except Exception:
                logger.warning("breaker %s: the breaker store failed to save; going on locally",
                               self._service, exc_info=True)

    async def _read(self, generation: int) -> None:
        try:
            async with asyncio.timeout(STORE_TIMEOUT):
                snapshot = await self._store.load(self._service)
        except Exception:
            logger.warning("breaker %s: the breaker store failed to load; going on locally",
                           self._service, exc_info=True)
            return
        if snapshot is None:
            return
        if not isinstance(snapshot, BreakerSnapshot):
            logger.warning("breaker %s: the breaker store answered %r, not a BreakerSnapshot; "
                           "going on locally", self._service, snapshot)
            return
        self._adopt(snapshot, generation)

    async def aclose(self) -> None:
        """Let a pending write finish (within ``STORE_TIMEOUT``), drop a pending read."""
        if self._reader is not None:
            self._reader.cancel()
        if self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer}, timeout=STORE_TIMEOUT)
            self._writer.cancel()


def _running(task: asyncio.Task[None] | None) -> bool:
    return task is not None and not task.done()
