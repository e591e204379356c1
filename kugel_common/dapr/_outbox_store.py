"""Where the outbox keeps its events: a protocol, and the SQLite store used by default."""

from __future__ import annotations

import enum
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["OutboxEvent", "OutboxRecord", "OutboxStatus", "OutboxStore", "SqliteOutboxStore"]


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the sidecar refused it for good (e.g. no such pubsub); not retried


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """What an operator asks about one event."""

    event_id: str
    pubsub: str
    topic: str
    status: OutboxStatus
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """What the relay sends; ``seq`` orders the events as they were recorded."""

    seq: int
    event_id: str
    pubsub: str
    topic: str
    data: Any
    metadata: dict[str, str]


class OutboxStore(Protocol):
    """The seam for keeping the outbox in the service's own database."""

    async def add(self, event_id: str, pubsub: str, topic: str, data: Any,
                  metadata: dict[str, str]) -> None:
        """Durable when it returns."""

    async def pending(self, limit: int) -> list[OutboxEvent]:
        """The oldest pending events, in the order they were added."""

    async def mark(self, seq: int, status: OutboxStatus, error: str | None = None) -> None:
        """Record an attempt and its outcome."""

    async def record(self, event_id: str) -> OutboxRecord | None: ...

    async def counts(self) -> dict[OutboxStatus, int]: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
    pubsub TEXT NOT NULL, topic TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq);
"""


class SqliteOutboxStore:
    """A SQLite file with ``synchronous=FULL``: an added event survives a crash of the process
    or of the machine. Each call is one short statement, so it runs on the event loop."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)

    async def add(self, event_id: str, pubsub: str, topic: str, data: Any,
                  metadata: dict[str, str]) -> None:
        self._db.execute(
            "INSERT INTO outbox (event_id, pubsub, topic, data, metadata, status) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, pubsub, topic, json.dumps(data, default=str), json.dumps(metadata),
             OutboxStatus.PENDING.value))

    async def pending(self, limit: int) -> list[OutboxEvent]:
        rows = self._db.execute(
            "SELECT seq, event_id, pubsub, topic, data, metadata FROM outbox WHERE status = ? "
            "ORDER BY seq LIMIT ?", (OutboxStatus.PENDING.value, limit)).fetchall()
        return [OutboxEvent(seq, event_id, pubsub, topic, json.loads(data), json.loads(meta))
                for seq, event_id, pubsub, topic, data, meta in rows]

    async def mark(self, seq: int, status: OutboxStatus, error: str | None = None) -> None:
        self._db.execute("UPDATE outbox SET status = ?, attempts = attempts + 1, "
                         "last_error = COALESCE(?, last_error) WHERE seq = ?",
                         (status.value, error, seq))

    async def record(self, event_id: str) -> OutboxRecord | None:
        row = self._db.execute(
            "SELECT event_id, pubsub, topic, status, attempts, last_error FROM outbox "
            "WHERE event_id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        return OutboxRecord(row[0], row[1], row[2], OutboxStatus(row[3]), row[4], row[5])

    async def counts(self) -> dict[OutboxStatus, int]:
        counted = dict(self._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
        return {status: counted.get(status.value, 0) for status in OutboxStatus}

    def close(self) -> None:
        self._db.close()
