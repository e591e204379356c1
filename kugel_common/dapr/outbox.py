"""A durable outbox: an event is on disk before ``publish`` returns, and a relay sends it later.

Writing a sale and publishing its event cannot be one transaction across the service and the
broker. The outbox makes the publish a local SQLite write (``synchronous=FULL``: it survives a
crash of the process or the machine), and a background relay delivers the events in order
through :class:`DaprClientHelper`, waiting out a sidecar that is down or a breaker that is open.
Each event keeps its id on every attempt, so consumers dedupe a resend.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._clock import Clock, SystemClock
from ..errors import DaprError, DaprUnavailableError
from ._client import DaprClientHelper

__all__ = ["Outbox", "OutboxRecord", "OutboxStatus"]

logger = logging.getLogger("kugel_common.dapr.outbox")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
    pubsub TEXT NOT NULL, topic TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq);
"""


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the sidecar refused it for good (e.g. no such pubsub); not retried


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    event_id: str
    pubsub: str
    topic: str
    status: OutboxStatus
    attempts: int
    last_error: str | None


class Outbox:
    """``await outbox.publish(...)`` records; ``async with outbox:`` runs the relay."""

    def __init__(
        self,
        dapr: DaprClientHelper,
        path: str | Path = ":memory:",
        *,
        clock: Clock | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._dapr = dapr
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)
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
        self._db.execute(
            "INSERT INTO outbox (event_id, pubsub, topic, data, metadata, status) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, pubsub, topic, json.dumps(data, default=str),
             json.dumps(dict(metadata or {})), OutboxStatus.PENDING.value))
        self._idle.clear()
        self._wakeup.set()
        return event_id

    def status(self, event_id: str) -> OutboxRecord | None:
        row = self._db.execute(
            "SELECT event_id, pubsub, topic, status, attempts, last_error FROM outbox "
            "WHERE event_id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        return OutboxRecord(row[0], row[1], row[2], OutboxStatus(row[3]), row[4], row[5])

    def counts(self) -> dict[OutboxStatus, int]:
        counted = dict(self._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
        return {status: counted.get(status.value, 0) for status in OutboxStatus}

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
        self._db.close()

    async def _run(self) -> None:
        failures = 0
        while True:
            rows = self._db.execute(
                "SELECT seq, event_id, pubsub, topic, data, metadata FROM outbox "
                "WHERE status = ? ORDER BY seq LIMIT 200", (OutboxStatus.PENDING.value,)
            ).fetchall()
            if not rows:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            for seq, event_id, pubsub, topic, data, metadata in rows:
                try:
                    await self._dapr.publish_event(pubsub, topic, json.loads(data),
                                                   event_id=event_id,
                                                   metadata=json.loads(metadata))
                except DaprUnavailableError as exc:
                    # Order matters: wait, then resume from this event.
                    self._record(seq, OutboxStatus.PENDING, exc)
                    delay = min(self._backoff_max, self._backoff_initial * 2 ** failures)
                    failures += 1
                    logger.info("outbox: sidecar unavailable (%s); retrying in %.2fs",
                                type(exc).__name__, delay)
                    await self._clock.sleep(delay)
                    break
                except DaprError as exc:
                    self._record(seq, OutboxStatus.FAILED, exc)
                    logger.error("outbox: event %s to %s/%s refused: %s", event_id, pubsub,
                                 topic, exc)
                    continue
                failures = 0
                self._db.execute("UPDATE outbox SET status = ?, attempts = attempts + 1 "
                                 "WHERE seq = ?", (OutboxStatus.DELIVERED.value, seq))

    def _record(self, seq: int, status: OutboxStatus, error: DaprError) -> None:
        self._db.execute("UPDATE outbox SET status = ?, attempts = attempts + 1, "
                         "last_error = ? WHERE seq = ?",
                         (status.value, f"{type(error).__name__}: {error}", seq))
