"""Apply each event's effect exactly once: the effect and the record of it are one write.

Claiming an event id first and applying its effect after loses events: a process killed between
the two leaves a claim that makes every redelivery look like a duplicate. Here the key that the
effect changes also keeps the ids of the events applied to it, and one etag-checked save of that
key writes both. A single-key save is atomic on every Dapr state store, state.redis included (one
Lua script), where a multi-key transaction is not: state.redis does not roll back an operation
whose etag check fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .._tracing import otel_installed
from ..errors import EtagMismatchError
from ._client import DaprApi

__all__ = ["IdempotentConsumer"]

WEEK = 7 * 24 * 3600


class IdempotentConsumer:
    """``await consumer.apply(event.id, key, change)``; ``await consumer.read(key)``.

    The key's stored value is ``{"value": ..., "applied": {event id: when}}``: read it with
    :meth:`read`. An event id is remembered ``ttl_seconds`` (a week), well past any redelivery.
    An effect on several keys makes all but one of them safe to repeat (a deterministic key
    written last-write, such as ``entry:<event id>``), writes those first, and applies the one
    that must not repeat (a counter, a total) through :meth:`apply`.
    """

    def __init__(self, dapr: DaprApi, store: str, *, ttl_seconds: int = WEEK,
                 now: Callable[[], float] = time.time, attempts: int = 50) -> None:
        self._dapr = dapr
        self._store = store
        self._ttl = ttl_seconds
        self._now = now
        self._attempts = attempts
        self._applied = self._duplicates = 0

    def snapshot(self) -> dict[str, int]:
        """Events applied, and duplicates skipped, since start: for ``/dependencies``."""
        return {"applied": self._applied, "duplicates": self._duplicates}

    async def apply(self, event_id: str, key: str, change: Callable[[Any], Any]) -> bool:
        """Write ``change(current value or None)`` to ``key`` unless ``event_id`` was applied
        to it before. True when applied now, False for a duplicate.

        Concurrent deliveries race on the key's etag and the loser reads again, so ``change``
        may run more than once; only one result is written. If ``change`` raises, nothing is
        written and the redelivery applies the event. A sidecar that cannot be reached raises:
        failing open would apply the event twice.
        """
        refused: EtagMismatchError | None = None
        for _ in range(self._attempts):
            entry = await self._dapr.get_state_with_etag(self._store, key)
            stored = _unwrap(None if entry is None else entry.value)
            applied: dict[str, float] = stored["applied"]
            if event_id in applied:
                self._duplicates += 1
                _mark(duplicate=True)
                return False
            now = self._now()
            kept = {seen: at for seen, at in applied.items() if at > now - self._ttl}
            record = {"value": change(stored["value"]), "applied": {**kept, event_id: now}}
            try:
                if entry is None:
                    await self._dapr.save_state(self._store, key, record,
                                                concurrency="first-write")
                else:
                    await self._dapr.save_state(self._store, key, record, etag=entry.etag)
            except EtagMismatchError as exc:
                refused = exc
                continue
            self._applied += 1
            _mark(duplicate=False)
            return True
        assert refused is not None
        raise refused

    async def read(self, key: str) -> Any:
        """The value that :meth:`apply` keeps under ``key``, or None."""
        entry = await self._dapr.get_state_with_etag(self._store, key)
        return _unwrap(None if entry is None else entry.value)["value"]


def _mark(*, duplicate: bool) -> None:
    """On the span the handler runs in (the subscriber's CONSUMER span), when traced."""
    if otel_installed():
        from .._event_spans import mark_duplicate

        mark_duplicate(duplicate)


def _unwrap(stored: Any) -> dict[str, Any]:
    if stored is None:
        return {"value": None, "applied": {}}
    if not isinstance(stored, dict) or not isinstance(stored.get("applied"), dict):
        raise ValueError("not a value kept by IdempotentConsumer.apply")
    return stored
