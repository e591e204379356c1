"""A state store with Dapr's etag rules: every write makes a new etag; a stale one is refused."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["EtagMismatch", "MemoryStateStore", "Write"]


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


@dataclass(slots=True)
class _Entry:
    value: bytes
    etag: str
    expires_at: float | None


class MemoryStateStore:
    """In-process store for tests and the local stack; writes of one call apply atomically."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._etags = itertools.count(1)

    def get(self, key: str) -> tuple[bytes, str] | None:
        entry = self._live(key)
        return None if entry is None else (entry.value, entry.etag)

    def apply(self, writes: Sequence[Write]) -> None:
        """All writes or none: each is checked against the state the earlier ones leave."""
        staged: dict[str, _Entry | None] = {}
        for write in writes:
            current = staged[write.key] if write.key in staged else self._live(write.key)
            if write.etag is not None and (current is None or current.etag != write.etag):
                raise EtagMismatch(write.key)
            if write.etag is None and write.first_write and current is not None:
                raise EtagMismatch(write.key)
            if write.value is None:
                staged[write.key] = None
            else:
                expires = None if write.ttl_seconds is None else self._clock() + write.ttl_seconds
                staged[write.key] = _Entry(write.value, str(next(self._etags)), expires)
        for key, entry in staged.items():
            if entry is None:
                self._entries.pop(key, None)
            else:
                self._entries[key] = entry

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._entries[key]
            return None
        return entry
