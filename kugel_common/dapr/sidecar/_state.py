"""A state store with Dapr's etag rules: every write makes a new etag; a stale one is refused.

It is SQLite: a file in the sidecar's data directory, so state survives a restart, or
``:memory:`` for tests. Etags come from one counter per store and never repeat, so an etag
read before a delete can never match the key after it is written again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["EtagMismatch", "StateStore", "Write"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, etag TEXT NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS etags (last INTEGER NOT NULL);
INSERT INTO etags (last) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM etags);
"""


class EtagMismatch(Exception):
    """The write named an etag that is not the key's current one (or first-write lost)."""


@dataclass(frozen=True, slots=True)
class Write:
    """One save or delete, as the HTTP API describes it; ``value`` is JSON text."""

    key: str
    value: bytes | None  # None: delete
    etag: str | None = None
    first_write: bool = False
    ttl_seconds: float | None = None


class StateStore:
    """One state component's keys; the writes of one call apply atomically."""

    def __init__(self, clock: Callable[[], float], database: str = ":memory:") -> None:
        self._clock = clock
        self._db = sqlite3.connect(database, isolation_level=None)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + _SCHEMA)

    def get(self, key: str) -> tuple[bytes, str] | None:
        row = self._db.execute("SELECT value, etag FROM state WHERE key = ? AND "
                               "(expires_at IS NULL OR expires_at > ?)",
                               (key, self._clock())).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]))

    def apply(self, writes: Sequence[Write]) -> None:
        """All writes or none: each is checked against the state the earlier ones leave."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                self._apply_one(write)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _apply_one(self, write: Write) -> None:
        current = self.get(write.key)
        if write.etag is not None and (current is None or current[1] != write.etag):
            raise EtagMismatch(write.key)
        if write.etag is None and write.first_write and current is not None:
            raise EtagMismatch(write.key)
        if write.value is None:
            self._db.execute("DELETE FROM state WHERE key = ?", (write.key,))
            return
        etag = self._db.execute("UPDATE etags SET last = last + 1 RETURNING last").fetchone()[0]
        expires = None if write.ttl_seconds is None else self._clock() + write.ttl_seconds
        self._db.execute("INSERT OR REPLACE INTO state (key, value, etag, expires_at) "
                         "VALUES (?, ?, ?, ?)", (write.key, write.value, str(etag), expires))

    def close(self) -> None:
        self._db.close()
