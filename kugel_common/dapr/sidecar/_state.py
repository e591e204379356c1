"""State stores with the etag rules of the component they stand in for.

``state.redis`` (what the reference stack deploys) has rules an idealised store does not, and
code that passes locally must pass on daprd, so the local stores follow them
(components-contrib ``state/redis``, the ``setDefaultQuery`` and ``delDefaultQuery`` scripts):

- etags are per-key versions 1, 2, 3...; a save whose etag is not an integer is refused (400);
  a delete compares its etag as text, so any other etag is a mismatch (409), and ``0`` deletes;
- an etag for a missing key creates it;
- a key once written ``first-write`` refuses every later write that does not name its current
  etag, last-write ones included, with a plain error (500), not an etag error (409);
- a save of several items writes each on its own, as daprd's parallel bulk set does;
- a transaction is MULTI/EXEC: a refused operation does not undo the others, and its TTL
  still applies; only a save etag that is not an integer fails it before anything runs;
- the component's ``ttlInSeconds`` is the TTL of every save that gives none, so such a save
  sets the expiry again (or, for 0 or less, removes it) instead of keeping the key's.

:class:`Store` is what the HTTP API needs. :class:`StateStore` keeps the data in SQLite (a file
in the sidecar's data directory, or ``:memory:``), and gives other component types strict
rules: global etags, and all of one call or none. ``_redis_state.RedisStateStore`` keeps
state.redis data in a real Redis, in daprd's own layout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ..._sqlite import execute_script, open_shared
from ._components import Component
from ._go import go_atoi
from ._settings import redis_settings

__all__ = ["InvalidEtag", "StateStore", "Store", "StoreFailed", "Write", "WriteRefused",
           "default_ttl", "raise_refusals", "redis_version", "with_default_ttl"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, etag TEXT NOT NULL, expires_at REAL,
    first_write INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS etags (last INTEGER NOT NULL);
INSERT INTO etags (last) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM etags);
"""


def _upgrade(db: sqlite3.Connection) -> None:
    execute_script(db, _SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(state)")}
    if "first_write" not in columns:  # a data directory from an earlier version
        db.execute("ALTER TABLE state ADD COLUMN first_write INTEGER NOT NULL DEFAULT 0")


class WriteRefused(Exception):
    """The etag or first-write rule refused a write. ``etag_given`` decides how daprd says it:
    an etag error (409) when the write named an etag, a plain store error (500) when not."""

    def __init__(self, key: str, *, etag_given: bool) -> None:
        super().__init__(key)
        self.key, self.etag_given = key, etag_given


class InvalidEtag(ValueError):
    """state.redis: an etag that is not an integer version."""


class StoreFailed(Exception):
    """What keeps the data failed (Redis down, a command it refused, a key it cannot read):
    daprd answers 500 with the call's error code, ERR_STATE_GET, ERR_STATE_SAVE and so on."""


@dataclass(frozen=True, slots=True)
class Write:
    """One save or delete, as the HTTP API describes it; ``value`` is JSON text."""

    key: str
    value: bytes | None  # None: delete
    etag: str | None = None
    first_write: bool = False
    last_write: bool = False
    ttl_seconds: float | None = None


class Store(Protocol):
    """What the HTTP API needs of a state component, whatever keeps its data. ``apply``
    raises :class:`WriteRefused` or :class:`InvalidEtag` when the component's rules refuse;
    either call raises :class:`StoreFailed` when what keeps the data fails."""

    backend: str  # "embedded" or "redis", for the start-up log

    async def get(self, key: str) -> tuple[bytes, str] | None: ...

    async def apply(self, writes: Sequence[Write], *, transaction: bool = False) -> None: ...

    async def aclose(self) -> None: ...


def redis_version(write: Write) -> int:
    """The version a state.redis save names (``parseETag``): 0 for none, or for last-write;
    an etag that Go's ``strconv.Atoi`` refuses is :class:`InvalidEtag`."""
    if write.last_write or not write.etag:
        return 0
    try:
        return go_atoi(write.etag)
    except ValueError as exc:  # state.ETagError's text, daprd's message for the 400
        raise InvalidEtag(f"invalid etag value: {exc}") from exc


def default_ttl(component: Component) -> int | None:
    """state.redis's component-wide ``ttlInSeconds`` (components-contrib
    ``common/component/redis/settings.go``): any integer, even 0 or less; a value its Init
    refuses is :class:`InvalidSetting`. Other types do not read it."""
    if component.type != "state.redis":
        return None
    return redis_settings(component).ttl_in_seconds


def with_default_ttl(writes: Sequence[Write], ttl: int | None) -> Sequence[Write]:
    """The writes with ``ttl`` on each save that gives none, as state.redis's Set and Multi
    apply the component's TTL; a request's ``ttlInSeconds`` (-1 included) wins."""
    if ttl is None:
        return writes
    return [replace(write, ttl_seconds=float(ttl))
            if write.value is not None and write.ttl_seconds is None else write
            for write in writes]


def raise_refusals(refusals: Sequence[WriteRefused | InvalidEtag]) -> None:
    """daprd joins the errors of a save's items and answers with an etag error among them
    (``errors.As``: 409 or 400) before a plain one (500)."""
    for refusal in refusals:
        if isinstance(refusal, InvalidEtag) or refusal.etag_given:
            raise refusal
    if refusals:
        raise refusals[0]


class StateStore:
    """The embedded store: one state component's keys in SQLite. ``redis=True`` follows
    state.redis (see the module)."""

    backend = "embedded"

    def __init__(self, clock: Callable[[], float], database: str = ":memory:", *,
                 redis: bool = False, ttl: int | None = None) -> None:
        self._clock = clock
        self._redis = redis
        self._ttl = ttl  # the component's default TTL (state.redis)
        self._db = open_shared(database, _upgrade)

    @classmethod
    def of(cls, component: Component, clock: Callable[[], float],
           database: str = ":memory:") -> StateStore:
        """The store for a ``state.*`` component, with that component type's rules."""
        return cls(clock, database, redis=component.type == "state.redis",
                   ttl=default_ttl(component))

    async def get(self, key: str) -> tuple[bytes, str] | None:
        row = self._row(key)
        return None if row is None else (row[0], row[1])

    def _row(self, key: str) -> tuple[bytes, str, bool] | None:
        row = self._db.execute("SELECT value, etag, first_write FROM state WHERE key = ? AND "
                               "(expires_at IS NULL OR expires_at > ?)",
                               (key, self._clock())).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]), bool(row[2]))

    async def apply(self, writes: Sequence[Write], *, transaction: bool = False) -> None:
        """Strict stores: all writes or none. state.redis: each write stands alone, and a
        refusal is raised after the others are applied (see :func:`raise_refusals`)."""
        writes = with_default_ttl(writes, self._ttl)
        if self._redis and transaction:  # parsed before MULTI: nothing runs
            for write in writes:
                if write.value is not None:
                    redis_version(write)
        refusals: list[WriteRefused | InvalidEtag] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                try:
                    self._apply_one(write, transaction)
                except (WriteRefused, InvalidEtag) as exc:
                    if not self._redis:
                        raise
                    refusals.append(exc)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        raise_refusals(refusals)

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
            if transaction and self._redis and write.ttl_seconds is not None:
                self._db.execute("UPDATE state SET expires_at = ? WHERE key = ?",
                                 (self._expiry(write, True), write.key))  # EXPIRE ran anyway
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
        if write.value is None:  # DEL: no etag, "0", or the current version, as text
            return current is None or write.etag in (None, "0", current[1])
        version = redis_version(write)
        if current is None:
            return True
        return str(version) == current[1] or (not current[2] and version == 0)

    def _expiry(self, write: Write, exists: bool) -> float | None:
        if write.ttl_seconds is not None and write.ttl_seconds > 0:
            return self._clock() + write.ttl_seconds
        if write.ttl_seconds is None and self._redis and exists:  # HSET keeps its EXPIRE
            row = self._db.execute("SELECT expires_at FROM state WHERE key = ?",
                                   (write.key,)).fetchone()
            return None if row is None else row[0]
        return None  # -1 (or 0) persists, as state.redis's PERSIST does

    async def aclose(self) -> None:
        self._db.close()
