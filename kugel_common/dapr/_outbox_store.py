"""Where the outbox keeps its events: a protocol, and the SQLite store used by default.

Every SQLite call runs on one worker thread of the store's own, never on the event loop: a lock
held by another process, or a slow disk, stalls the store, not the service. Every SQLite failure
becomes an :class:`~kugel_common.errors.OutboxError` that names the file and SQLite's reason.
A corrupt page fails every call that touches it, with an error that says to run
``kugel outbox salvage``, which rewrites the file from what is still readable.
"""

from __future__ import annotations

import asyncio
import enum
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .._sqlite import execute_script, open_shared
from ..errors import OutboxError

__all__ = ["OutboxEvent", "OutboxRecord", "OutboxStatus", "OutboxStore", "SqliteOutboxStore",
           "open_outbox_file", "open_outbox_read_only", "take_relay_lock"]

T = TypeVar("T")


class OutboxStatus(enum.StrEnum):
    HELD = "held"  # recorded with a state transaction whose outcome is not known yet
    PENDING = "pending"
    DELIVERED = "delivered"
    PARKED = "parked"  # refused for its own content; waits for an operator to requeue or drop


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """What an operator asks about one event."""

    event_id: str
    pubsub: str
    topic: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    created_at: float  # wall-clock seconds


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """What the relay sends; ``seq`` orders the events as they were recorded."""

    seq: int
    event_id: str
    pubsub: str
    topic: str
    data: Any
    metadata: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    strikes: int = 0
    # the trace context current when it was recorded (``traceparent``, ``tracestate``), or None
    trace: dict[str, str] | None = None


class OutboxStore(Protocol):
    """The seam for keeping the outbox in the service's own database. Every method is durable
    when it returns, and raises :class:`~kugel_common.errors.OutboxError` when it cannot be."""

    async def add(self, events: Sequence[OutboxEvent], *, marker: str | None = None) -> None:
        """Record new events: held under ``marker`` (a state transaction's), else pending. An
        id recorded before keeps its row; a held one becomes pending when added unheld."""

    async def page(self, after: int, limit: int) -> list[OutboxEvent]:
        """Pending events with ``seq > after``, oldest first."""

    async def delivered(self, seq: int) -> None: ...

    async def failed(self, seq: int, error: str, *, strike: bool, park: bool) -> None:
        """Record a failed attempt; ``strike`` counts it against the event, ``park`` parks it."""

    async def held_markers(self, before: float) -> list[str]:
        """Markers of events held since before ``before`` (wall-clock seconds)."""

    async def settle(self, marker: str, committed: bool) -> None:
        """The marker's transaction committed (its events become pending) or never did (they
        are dropped)."""

    async def records(self, status: OutboxStatus | None, limit: int) -> list[OutboxRecord]: ...

    async def record(self, event_id: str) -> OutboxRecord | None: ...

    async def counts(self) -> dict[OutboxStatus, int]: ...

    async def oldest_waiting(self) -> float | None:
        """``created_at`` of the oldest held or pending event."""

    async def requeue(self, event_id: str | None) -> int:
        """Parked events back to pending (all of them for None); how many."""

    async def drop(self, event_id: str) -> bool:
        """Forget a parked event for good."""

    async def prune(self, before: float) -> int:
        """Forget delivered events recorded before ``before``."""

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
    pubsub TEXT NOT NULL, topic TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    strikes INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL DEFAULT 0, marker TEXT,
    trace TEXT);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq);
"""
# Columns added since the first release; a file from then gets them on open.
_ADDED = {"strikes": "INTEGER NOT NULL DEFAULT 0", "created_at": "REAL NOT NULL DEFAULT 0",
          "marker": "TEXT", "trace": "TEXT"}
_RECORD = "event_id, pubsub, topic, status, attempts, last_error, created_at"


class SqliteOutboxStore:
    """A SQLite file in WAL mode with ``synchronous=FULL``: an added event survives a crash of
    the process or of the machine. Several processes may share the file (one relay runs).
    ``read_only`` is for inspecting: the file is never written, not even its schema.

    The first event added creates the file; until then every read answers as an empty outbox
    does, so a service that never publishes writes nothing. ``setting`` names what chose
    ``path`` (``KUGEL_OUTBOX_PATH``), for the error when the file cannot be created there."""

    def __init__(self, path: str | Path = ":memory:", *, lock_timeout: float = 5.0,
                 now: Callable[[], float] = time.time, read_only: bool = False,
                 setting: str | None = None) -> None:
        self.path = str(path)
        self._lock_timeout = lock_timeout
        self._read_only = read_only
        self._now = now
        self._setting = setting
        self._db: sqlite3.Connection | None = None
        self._empty: sqlite3.Connection | None = None  # what reads see before the file exists
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kugel-outbox")
        self._closed = False

    # -- the worker thread -------------------------------------------------------------------

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, create: bool = False) -> T:
        if self._closed:  # a /dependencies or a scrape during shutdown: a reason, not a crash
            raise OutboxError(f"outbox {self.path}: closed (the service is stopping)",
                              path=self.path, reason="closed")
        return await asyncio.get_running_loop().run_in_executor(self._worker, self._call, work,
                                                                create)

    def _call(self, work: Callable[[sqlite3.Connection], T], create: bool) -> T:
        opening = self._db is None
        try:
            return work(self._connection(create))
        except sqlite3.Error as exc:
            reason = str(exc)
            if self._db is not None and not _transient(reason):
                self._db.close()  # disk errors, corruption: open afresh on the next call
                self._db = None
            message = f"outbox {self.path}: {reason}"
            unusable = _unusable(self.path) if opening else None
            if isinstance(exc, sqlite3.DatabaseError) and corrupt(exc):
                message += (" (the file is damaged: stop the service, then run "
                            f"`kugel outbox --file {self.path} salvage`)")
            elif unusable is not None:
                named = f" ({self._setting})" if self._setting else ""
                message = f"outbox {self.path}{named}: {unusable} ({reason})"
            raise OutboxError(message, path=self.path, reason=reason) from exc

    def _connection(self, create: bool) -> sqlite3.Connection:
        if self._db is None:
            if self._read_only:
                self._db = _inspect(self.path)
            elif not create and not self.created:
                return self._nothing_yet()
            else:
                self._db = open_outbox_file(self.path, self._lock_timeout)
        return self._db

    @property
    def created(self) -> bool:
        """Whether the file exists (an in-memory store always does)."""
        return self.path == ":memory:" or os.path.lexists(self.path)

    def _nothing_yet(self) -> sqlite3.Connection:
        if self._empty is None:
            self._empty = sqlite3.connect(":memory:", isolation_level=None,
                                          check_same_thread=False)
            execute_script(self._empty, _SCHEMA)
        return self._empty

    # -- the protocol --------------------------------------------------------------------------

    async def add(self, events: Sequence[OutboxEvent], *, marker: str | None = None) -> None:
        status = OutboxStatus.HELD if marker else OutboxStatus.PENDING
        rows = [(e.event_id, e.pubsub, e.topic, json.dumps(e.data, default=str),
                 json.dumps(e.metadata), status.value, self._now(), marker,
                 None if e.trace is None else json.dumps(e.trace)) for e in events]

        def add(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.executemany(
                    "INSERT INTO outbox (event_id, pubsub, topic, data, metadata, status, "
                    "created_at, marker, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (event_id) DO UPDATE SET status = 'pending', marker = NULL "
                    "WHERE status = 'held' AND excluded.status = 'pending'", rows)

        await self._run(add, create=True)

    async def page(self, after: int, limit: int) -> list[OutboxEvent]:
        def page(db: sqlite3.Connection) -> list[OutboxEvent]:
            rows = db.execute(
                "SELECT seq, event_id, pubsub, topic, data, metadata, attempts, strikes, trace "
                "FROM outbox WHERE status = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
                (after, limit)).fetchall()
            return [OutboxEvent(seq, event_id, pubsub, topic, json.loads(data), json.loads(meta),
                                attempts, strikes, _trace(trace))
                    for seq, event_id, pubsub, topic, data, meta, attempts, strikes, trace
                    in rows]

        return await self._run(page)

    async def delivered(self, seq: int) -> None:
        await self._write("UPDATE outbox SET status = 'delivered', attempts = attempts + 1 "
                          "WHERE seq = ?", (seq,))

    async def failed(self, seq: int, error: str, *, strike: bool, park: bool) -> None:
        await self._write(
            "UPDATE outbox SET attempts = attempts + 1, strikes = strikes + ?, last_error = ?, "
            "status = CASE WHEN ? THEN 'parked' ELSE status END WHERE seq = ?",
            (int(strike), error, int(park), seq))

    async def held_markers(self, before: float) -> list[str]:
        def markers(db: sqlite3.Connection) -> list[str]:
            rows = db.execute("SELECT DISTINCT marker FROM outbox WHERE status = 'held' "
                              "AND created_at < ?", (before,)).fetchall()
            return [str(row[0]) for row in rows]

        return await self._run(markers)

    async def settle(self, marker: str, committed: bool) -> None:
        if committed:
            await self._write("UPDATE outbox SET status = 'pending', marker = NULL "
                              "WHERE marker = ? AND status = 'held'", (marker,))
        else:
            await self._write("DELETE FROM outbox WHERE marker = ? AND status = 'held'",
                              (marker,))

    async def records(self, status: OutboxStatus | None, limit: int) -> list[OutboxRecord]:
        def records(db: sqlite3.Connection) -> list[OutboxRecord]:
            if status is None:
                rows = db.execute(f"SELECT {_RECORD} FROM outbox ORDER BY seq LIMIT ?",
                                  (limit,))
            else:
                rows = db.execute(f"SELECT {_RECORD} FROM outbox WHERE status = ? "
                                  "ORDER BY seq LIMIT ?", (status.value, limit))
            return [_record(row) for row in rows.fetchall()]

        return await self._run(records)

    async def record(self, event_id: str) -> OutboxRecord | None:
        def record(db: sqlite3.Connection) -> OutboxRecord | None:
            row = db.execute(f"SELECT {_RECORD} FROM outbox WHERE event_id = ?",
                             (event_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._run(record)

    async def counts(self) -> dict[OutboxStatus, int]:
        def counts(db: sqlite3.Connection) -> dict[OutboxStatus, int]:
            counted = dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
            return {status: counted.get(status.value, 0) for status in OutboxStatus}

        return await self._run(counts)

    async def oldest_waiting(self) -> float | None:
        def oldest(db: sqlite3.Connection) -> float | None:
            row = db.execute("SELECT MIN(created_at) FROM outbox "
                             "WHERE status IN ('held', 'pending')").fetchone()
            return None if row[0] is None else float(row[0])

        return await self._run(oldest)

    async def requeue(self, event_id: str | None) -> int:
        if event_id is None:
            return await self._write("UPDATE outbox SET status = 'pending', strikes = 0 "
                                     "WHERE status = 'parked'", ())
        return await self._write("UPDATE outbox SET status = 'pending', strikes = 0 "
                                 "WHERE status = 'parked' AND event_id = ?", (event_id,))

    async def drop(self, event_id: str) -> bool:
        return bool(await self._write("DELETE FROM outbox WHERE status = 'parked' AND "
                                      "event_id = ?", (event_id,)))

    async def prune(self, before: float) -> int:
        return await self._write("DELETE FROM outbox WHERE status = 'delivered' AND "
                                 "created_at < ?", (before,))

    async def _write(self, sql: str, parameters: Sequence[Any]) -> int:
        return await self._run(lambda db: db.execute(sql, parameters).rowcount)

    def close(self) -> None:
        """Close the file; calls already queued run first."""
        self._closed = True
        def close() -> None:
            for db in (self._db, self._empty):
                if db is not None:
                    db.close()
            self._db = self._empty = None

        self._worker.submit(close).result()
        self._worker.shutdown(wait=True)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


def open_outbox_file(path: str, lock_timeout: float = 5.0) -> sqlite3.Connection:
    """A connection in autocommit mode, the file created or upgraded to the current schema."""
    return open_shared(path, _upgrade, timeout=lock_timeout, synchronous="FULL",
                       check_same_thread=False)


def _upgrade(db: sqlite3.Connection) -> None:
    execute_script(db, _SCHEMA)
    have = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    for name, kind in _ADDED.items():
        if name not in have:
            db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")
    db.execute("UPDATE outbox SET status = 'parked' WHERE status = 'failed'")


def open_outbox_read_only(path: str) -> sqlite3.Connection:
    """A connection that cannot write: no schema, no lock file, no WAL switch. In a read-only
    folder SQLite cannot create the WAL's shared-memory file, so the file is then opened as
    immutable: sound there, since nothing can write to it, unless a WAL was left beside it."""
    uri = Path(path).absolute().as_uri()
    try:
        return _probe(sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                                      check_same_thread=False))
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_CANTOPEN:
            raise
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size:
            raise sqlite3.OperationalError(
                f"{exc}: its folder is read-only and it has a write-ahead log ({wal.name}); "
                "copy both to a writable folder and inspect the copy") from exc
    return _probe(sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None,
                                  check_same_thread=False))


def _inspect(path: str) -> sqlite3.Connection:
    db = open_outbox_read_only(path)
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
                  ).fetchone() is None:
        db.close()
        raise sqlite3.OperationalError("not an outbox file (it has no outbox table)")
    return db


def _probe(db: sqlite3.Connection) -> sqlite3.Connection:
    """SQLite opens lazily: read the schema now, so a file it cannot use fails here."""
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def take_relay_lock(path: str) -> int | None:
    """One relay per outbox file across processes: an exclusive ``flock`` on
    ``<file>.relay-lock``, which the kernel releases when the process dies. The descriptor to
    close to release it, or None while another process holds it."""
    fd = os.open(f"{path}.relay-lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unusable(path: str) -> str | None:
    """What visibly keeps SQLite from creating or writing the file at ``path``, if anything."""
    if path == ":memory:":
        return None
    target = Path(path).absolute()
    if target.is_dir():
        return "it is a directory"
    if not target.parent.is_dir():
        return f"its folder {target.parent} does not exist"
    if target.exists() and not os.access(target, os.W_OK):
        return "the file is read-only"
    if not os.access(target.parent, os.W_OK | os.X_OK):
        return f"its folder {target.parent} is read-only"
    return None


def corrupt(exc: sqlite3.DatabaseError) -> bool:
    """SQLite says the file is damaged, or not a database at all."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _transient(reason: str) -> bool:
    """Errors after which the connection is still good: a lock held elsewhere."""
    return "locked" in reason or "busy" in reason


def _trace(stored: str | None) -> dict[str, str] | None:
    """The stored trace context; anything unreadable counts as none: it never stops an event."""
    try:
        carrier = None if stored is None else json.loads(stored)
    except ValueError:
        return None
    if not isinstance(carrier, dict):
        return None
    return {str(k): v for k, v in carrier.items() if isinstance(v, str)} or None


def _record(row: Sequence[Any]) -> OutboxRecord:
    event_id, pubsub, topic, status, attempts, last_error, created_at = row
    return OutboxRecord(event_id, pubsub, topic, OutboxStatus(status), attempts, last_error,
                        created_at)
