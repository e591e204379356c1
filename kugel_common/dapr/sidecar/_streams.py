"""Where the broker keeps messages: Redis streams' model, as a small protocol.

pubsub.redis keeps a stream per topic and a consumer group per app id. A group reads new
entries (``XREADGROUP >``), which puts them on its pending list until it acks them (``XACK``);
an entry left pending is claimed again once idle long enough (``XPENDING`` + ``XCLAIM``). The
:class:`Streams` protocol is those four calls, so :class:`SqliteStreams` (durable, embedded, the
default) and ``_redis_streams.RedisStreams`` (a real Redis, in daprd's layout) plug in alike.
What to do with an entry (routing, retries, dead letters, acks) is the broker's and the
subscriber's, not the store's.

An entry holds the data and, when the publisher gave any, the publish metadata (its JSON, as
daprd writes it). ``XADD`` may trim the stream (:class:`Trim`): entries trimmed away are gone
for every group, read or not, and pending ones leave the pending lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..._sqlite import execute_script, open_shared

__all__ = ["NO_TRIM", "Entry", "SqliteStreams", "Streams", "Trim"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry as a consumer group sees it."""

    id: str
    data: bytes
    deliveries: int = 1  # how often the group has been handed it
    metadata: bytes | None = None  # the publish metadata's JSON; None: the entry has none


@dataclass(frozen=True, slots=True)
class Trim:
    """How an ``XADD`` trims its stream: ``MAXLEN ~ max_len`` (keep the newest ``max_len``
    entries) or ``MINID ~ <min_ms>-1`` (drop entries added before ``min_ms``, Unix time in
    milliseconds); neither when both are None. Redis's ``~`` may keep a few more; the embedded
    streams trim exactly."""

    max_len: int | None = None
    min_ms: int | None = None


NO_TRIM = Trim()


class Streams(Protocol):
    """Streams keyed by ``(pubsub, topic)``, consumer groups by name (the app id)."""

    async def add(self, pubsub: str, topic: str, data: bytes, metadata: bytes | None = None,
                  trim: Trim = NO_TRIM) -> str:
        """Append an entry (``XADD``), then trim the stream; return the entry's id."""

    async def read_new(self, group: str, pubsub: str, topic: str, count: int,
                       block: float) -> list[Entry]:
        """Entries the group has not been handed yet, now pending for it (``XREADGROUP >``).
        A new group starts at the beginning of the stream. Waits up to ``block`` seconds."""

    async def claim(self, group: str, pubsub: str, topic: str, min_idle: float,
                    count: int) -> list[Entry]:
        """Pending entries idle for ``min_idle`` seconds, handed out again (``XCLAIM``)."""

    async def ack(self, group: str, pubsub: str, topic: str, entry_id: str) -> None:
        """The group is done with the entry (``XACK``)."""

    async def backlog(self, group: str, pubsub: str, topic: str) -> int:
        """Entries the group has not acked: pending, or not read yet."""

    async def aclose(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, pubsub TEXT NOT NULL, topic TEXT NOT NULL,
    data BLOB NOT NULL, metadata BLOB, added_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS stream_entries_topic ON stream_entries (pubsub, topic, seq);
CREATE TABLE IF NOT EXISTS stream_groups (
    grp TEXT NOT NULL, pubsub TEXT NOT NULL, topic TEXT NOT NULL, last_seq INTEGER NOT NULL,
    PRIMARY KEY (grp, pubsub, topic)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_pending (
    grp TEXT NOT NULL, seq INTEGER NOT NULL, delivered_at REAL NOT NULL,
    deliveries INTEGER NOT NULL, PRIMARY KEY (grp, seq)) WITHOUT ROWID;
"""


class SqliteStreams:
    """Streams in one SQLite file (or ``:memory:``): what survives a restart of the sidecar
    is what Redis keeps, entries, each group's position and its pending list."""

    def __init__(self, database: str = ":memory:", *,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = open_shared(database, _prepare)
        self._clock = clock
        self._added: dict[tuple[str, str], asyncio.Event] = {}

    async def add(self, pubsub: str, topic: str, data: bytes, metadata: bytes | None = None,
                  trim: Trim = NO_TRIM) -> str:
        with self._db:
            self._db.execute("BEGIN")
            cursor = self._db.execute(
                "INSERT INTO stream_entries (pubsub, topic, data, metadata, added_ms) "
                "VALUES (?, ?, ?, ?, ?)", (pubsub, topic, data, metadata,
                                           int(self._clock() * 1000)))
            self._trim(pubsub, topic, trim)
        self._added.setdefault((pubsub, topic), asyncio.Event()).set()
        return str(cursor.lastrowid)

    def _trim(self, pubsub: str, topic: str, trim: Trim) -> None:
        if trim.max_len is not None:
            trimmed = self._db.execute(
                "DELETE FROM stream_entries WHERE pubsub = ? AND topic = ? AND seq <= (SELECT "
                "seq FROM stream_entries WHERE pubsub = ? AND topic = ? ORDER BY seq DESC "
                "LIMIT 1 OFFSET ?)", (pubsub, topic, pubsub, topic, trim.max_len)).rowcount
        elif trim.min_ms is not None:
            trimmed = self._db.execute(
                "DELETE FROM stream_entries WHERE pubsub = ? AND topic = ? AND added_ms < ?",
                (pubsub, topic, trim.min_ms)).rowcount
        else:
            return
        if trimmed:  # what daprd's reclaimer acks off once it finds the entries gone
            self._db.execute("DELETE FROM stream_pending WHERE NOT EXISTS (SELECT 1 FROM "
                             "stream_entries e WHERE e.seq = stream_pending.seq)")

    async def read_new(self, group: str, pubsub: str, topic: str, count: int,
                       block: float) -> list[Entry]:
        added = self._added.setdefault((pubsub, topic), asyncio.Event())
        added.clear()
        entries = self._read(group, pubsub, topic, count)
        if not entries and block > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(block):
                    await added.wait()
            entries = self._read(group, pubsub, topic, count)
        return entries

    def _read(self, group: str, pubsub: str, topic: str, count: int) -> list[Entry]:
        self._db.execute("INSERT OR IGNORE INTO stream_groups VALUES (?, ?, ?, 0)",
                         (group, pubsub, topic))
        rows = self._db.execute(
            "SELECT seq, data, metadata FROM stream_entries WHERE pubsub = ? AND topic = ? AND "
            "seq > (SELECT last_seq FROM stream_groups WHERE grp = ? AND pubsub = ? AND "
            "topic = ?) ORDER BY seq LIMIT ?",
            (pubsub, topic, group, pubsub, topic, count)).fetchall()
        if rows:
            now = self._clock()
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO stream_pending VALUES (?, ?, ?, 1)",
                                     [(group, seq, now) for seq, _, _ in rows])
                self._db.execute("UPDATE stream_groups SET last_seq = ? WHERE grp = ? AND "
                                 "pubsub = ? AND topic = ?", (rows[-1][0], group, pubsub, topic))
        return [Entry(str(seq), bytes(data), metadata=_bytes(metadata))
                for seq, data, metadata in rows]

    async def claim(self, group: str, pubsub: str, topic: str, min_idle: float,
                    count: int) -> list[Entry]:
        now = self._clock()
        rows = self._db.execute(
            "SELECT p.seq, e.data, p.deliveries, e.metadata FROM stream_pending p JOIN "
            "stream_entries e ON e.seq = p.seq WHERE p.grp = ? AND e.pubsub = ? AND "
            "e.topic = ? AND p.delivered_at <= ? ORDER BY p.seq LIMIT ?",
            (group, pubsub, topic, now - min_idle, count)).fetchall()
        self._db.executemany(
            "UPDATE stream_pending SET delivered_at = ?, deliveries = deliveries + 1 "
            "WHERE grp = ? AND seq = ?", [(now, group, seq) for seq, *_ in rows])
        return [Entry(str(seq), bytes(data), deliveries + 1, _bytes(metadata))
                for seq, data, deliveries, metadata in rows]

    async def ack(self, group: str, pubsub: str, topic: str, entry_id: str) -> None:
        self._db.execute("DELETE FROM stream_pending WHERE grp = ? AND seq = ?",
                         (group, int(entry_id)))

    async def backlog(self, group: str, pubsub: str, topic: str) -> int:
        row = self._db.execute(
            "SELECT (SELECT COUNT(*) FROM stream_pending p JOIN stream_entries e ON e.seq = p.seq "
            "WHERE p.grp = ? AND e.pubsub = ? AND e.topic = ?) + (SELECT COUNT(*) FROM "
            "stream_entries WHERE pubsub = ? AND topic = ? AND seq > COALESCE((SELECT last_seq "
            "FROM stream_groups WHERE grp = ? AND pubsub = ? AND topic = ?), 0))",
            (group, pubsub, topic, pubsub, topic, group, pubsub, topic)).fetchone()
        return int(row[0])

    async def aclose(self) -> None:
        self._db.close()


def _prepare(db: sqlite3.Connection) -> None:
    """The schema; a file from before publish metadata and trimming gets their columns."""
    execute_script(db, _SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(stream_entries)")}
    if "metadata" not in columns:
        db.execute("ALTER TABLE stream_entries ADD COLUMN metadata BLOB")
    if "added_ms" not in columns:
        db.execute("ALTER TABLE stream_entries ADD COLUMN added_ms INTEGER NOT NULL DEFAULT 0")


def _bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)
