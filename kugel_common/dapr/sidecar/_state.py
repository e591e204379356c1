"""A state store with the etag rules of the component it stands in for.

``state.redis`` (what the reference stack deploys) has rules an idealised store does not, and
code that passes locally must pass on daprd, so the local store follows them
(components-contrib ``state/redis``, the ``setDefaultQuery`` script):

- etags are per-key versions 1, 2, 3...; an etag that is not an integer is refused (400);
- an etag for a missing key creates it;
- a key once written ``first-write`` refuses every later write that does not name its current
  etag, last-write ones included, with a plain error (500), not an etag error (409);
- a transaction is MULTI/EXEC: a refused operation does not undo the others.

Other component types get strict rules: global etags, and all of one call or none.
It is SQLite: a file in the sidecar's data directory, so state survives a restart, or
``:memory:`` for tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._components import Component

__all__ = ["InvalidEtag", "StateStore", "Write", "WriteRefused"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, etag TEXT NOT NULL, expires_at REAL,
    first_write INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS etags (last INTEGER NOT NULL);
INSERT INTO etags (last) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM etags);
"""


class WriteRefused(Exception):
    """The etag or first-write rule refused a write. ``etag_given`` decides how daprd says it:
    an etag error (409) when the write named an etag, a plain store error (500) when not."""

    def __init__(self, key: str, *, etag_given: bool) -> None:
        super().__init__(key)
        self.key, self.etag_given = key, etag_given


class InvalidEtag(ValueError):
    """state.redis: an etag that is not an integer version."""


@dataclass(frozen=True, slots=True)
class Write:
    """One save or delete, as the HTTP API describes it; ``value`` is JSON text."""

    key: str
    value: bytes | None  # None: delete
    etag: str | None = None
    first_write: bool = False
    last_write: bool = False
    ttl_seconds: float | None = None


class StateStore:
    """One state component's keys. ``redis=True`` follows state.redis (see the module)."""

    def __init__(self, clock: Callable[[], float], database: str = ":memory:", *,
                 redis: bool = False) -> None:
        self._clock = clock
        self._redis = redis
        self._db = sqlite3.connect(database, isolation_level=None)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + _SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(state)")}
        if "first_write" not in columns:  # a data directory from an earlier version
            self._db.execute("ALTER TABLE state ADD COLUMN first_write INTEGER NOT NULL "
                             "DEFAULT 0")

    @classmethod
    def of(cls, component: Component, clock: Callable[[], float],
           database: str = ":memory:") -> StateStore:
        """The store for a ``state.*`` component, with that component type's rules."""
        return cls(clock, database, redis=component.type == "state.redis")

    def get(self, key: str) -> tuple[bytes, str] | None:
        row = self._row(key)
        return None if row is None else (row[0], row[1])

    def _row(self, key: str) -> tuple[bytes, str, bool] | None:
        row = self._db.execute("SELECT value, etag, first_write FROM state WHERE key = ? AND "
                               "(expires_at IS NULL OR expires_at > ?)",
                               (key, self._clock())).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]), bool(row[2]))

    def apply(self, writes: Sequence[Write], *, transaction: bool = False) -> None:
        """Strict stores: all writes or none. state.redis: each write stands alone, and the
        first refusal is raised after the others are applied."""
        if self._redis:
            for write in writes:  # a malformed etag fails the call before anything applies
                self._version(write)
        refused: WriteRefused | None = None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                try:
                    self._apply_one(write, transaction)
                except WriteRefused as exc:
                    if not self._redis:
                        raise
                    refused = refused or exc
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        if refused is not None:
            raise refused

    def _version(self, write: Write) -> int:
        """The version a state.redis write names: 0 for none (or last-write)."""
        if write.last_write or not write.etag:
            return 0
        try:
            return int(write.etag)
        except ValueError as exc:
            raise InvalidEtag(f"etag {write.etag!r} is not an integer") from exc

    def _apply_one(self, write: Write, transaction: bool) -> None:
        current = self._row(write.key)
        etag_given = bool(write.etag)
        if self._redis:
            allowed = self._redis_allows(write, current)
        elif write.etag is not None:
            allowed = current is not None and current[1] == write.etag
        else:
            allowed = not (write.first_write and current is not None)
            etag_given = True  # strict stores answer every refusal as an etag mismatch
        if not allowed:
            raise WriteRefused(write.key, etag_given=etag_given)
        if write.value is None:
            self._db.execute("DELETE FROM state WHERE key = ?", (write.key,))
            return
        if self._redis:
            etag = int(current[1]) + 1 if current is not None else 1
        else:
            etag = self._db.execute("UPDATE etags SET last = last + 1 RETURNING last"
                                    ).fetchone()[0]
        first_write = bool(current and current[2]) or (write.first_write and not transaction)
        expires = self._expiry(write, current is not None)
        self._db.execute("INSERT OR REPLACE INTO state (key, value, etag, expires_at, "
                         "first_write) VALUES (?, ?, ?, ?, ?)",
                         (write.key, write.value, str(etag), expires, int(first_write)))

    def _redis_allows(self, write: Write, current: tuple[bytes, str, bool] | None) -> bool:
        if current is None:
            return True
        if write.value is None:  # DEL: no etag, or the current one
            return not write.etag or write.etag == current[1]
        version = self._version(write)
        return str(version) == current[1] or (not current[2] and version == 0)

    def _expiry(self, write: Write, exists: bool) -> float | None:
        if write.ttl_seconds is not None and write.ttl_seconds > 0:
            return self._clock() + write.ttl_seconds
        if write.ttl_seconds is None and self._redis and exists:  # HSET keeps its EXPIRE
            row = self._db.execute("SELECT expires_at FROM state WHERE key = ?",
                                   (write.key,)).fetchone()
            return None if row is None else row[0]
        return None  # -1 (or 0) persists, as state.redis's PERSIST does

    def close(self) -> None:
        self._db.close()
