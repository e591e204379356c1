"""A durable outbox: an event is on disk before ``publish`` returns, and a relay sends it later.

Writing a sale and publishing its event cannot be one transaction across the service and the
broker. The outbox makes the publish a local durable write (SQLite by default, or any
:class:`OutboxStore`), and a background relay delivers the events in order through the Dapr
client, waiting out a sidecar that is down or a breaker that is open. Each event keeps its id on
every attempt, so consumers dedupe a resend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._clock import Clock, SystemClock
from ..errors import DaprError, DaprUnavailableError
from ._client import DaprApi
from ._outbox_store import OutboxRecord, OutboxStatus, OutboxStore, SqliteOutboxStore

__all__ = ["Outbox"]

logger = logging.getLogger("kugel_common.dapr.outbox")


class Outbox:
    """``await outbox.publish(...)`` records; ``async with outbox:`` runs the relay.

    ``store`` is a path for the default SQLite store (``:memory:`` keeps nothing), or an
    :class:`OutboxStore`. The relay backs off ``backoff_initial`` seconds, doubling up to
    ``backoff_max``, while the sidecar is unavailable.
    """

    def __init__(
        self,
        dapr: DaprApi,
        store: OutboxStore | str | Path = ":memory:",
        *,
        clock: Clock | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._dapr = dapr
        self._store = store if not isinstance(store, str | Path) else SqliteOutboxStore(store)
        self._clock = clock or SystemClock()
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._relay: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Outbox:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def publish(
        self,
        pubsub: str,
        topic: str,
        data: Any,
        *,
        event_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Record the event durably and return its id; the relay publishes it."""
        event_id = event_id or str(uuid.uuid4())
        await self._store.add(event_id, pubsub, topic, data, dict(metadata or {}))
        self._idle.clear()
        self._wakeup.set()
        return event_id

    async def status(self, event_id: str) -> OutboxRecord | None:
        return await self._store.record(event_id)

    async def counts(self) -> dict[OutboxStatus, int]:
        return await self._store.counts()

    def start(self) -> None:
        """Start the relay; events left pending by an earlier process go first."""
        if self._relay is None:
            self._wakeup.set()
            self._relay = asyncio.create_task(self._run(), name="outbox relay")

    async def drain(self, timeout: float) -> None:
        """Wait until nothing is pending (for shutdown and tests); TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    async def stop(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
            self._relay = None
        self._store.close()

    async def _run(self) -> None:
        failures = 0
        while True:
            events = await self._store.pending(200)
            if not events:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            for event in events:
                try:
                    await self._dapr.publish_event(event.pubsub, event.topic, event.data,
                                                   event_id=event.event_id,
                                                   metadata=event.metadata)
                except DaprUnavailableError as exc:
                    # Order matters: wait, then resume from this event.
                    await self._store.mark(event.seq, OutboxStatus.PENDING, _describe(exc))
                    delay = min(self._backoff_max, self._backoff_initial * 2 ** failures)
                    failures += 1
                    logger.info("outbox: sidecar unavailable (%s); retrying in %.2fs",
                                type(exc).__name__, delay)
                    await self._clock.sleep(delay)
                    break
                except DaprError as exc:
                    await self._store.mark(event.seq, OutboxStatus.FAILED, _describe(exc))
                    logger.error("outbox: event %s to %s/%s refused: %s", event.event_id,
                                 event.pubsub, event.topic, exc)
                    continue
                failures = 0
                await self._store.mark(event.seq, OutboxStatus.DELIVERED)


def _describe(error: DaprError) -> str:
    return f"{type(error).__name__}: {error}"
