"""A durable outbox: an event is on disk before ``publish`` returns, and a relay sends it later.

Writing a sale and publishing its event cannot be one transaction across the state store and
the broker. ``commit`` makes them one decision instead, the way daprd's own outbox does, without
its traps on Redis: the events are recorded *held* (fsync'd), the state transaction writes a
marker key with the business keys, and the events are released once it committed. After a crash
the relay reads the marker to learn what happened: found, the events are published; missing,
the transaction never committed and they are dropped.

The relay is supervised: any error restarts it with backoff and is logged at ERROR. One process
per outbox file runs it (a lock beside the file), so ``--workers N`` publishes each event once.
An event the sidecar refuses for its own content is *parked*: it never blocks later events and
waits for an operator (``kugel outbox``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._clock import Clock, SystemClock
from .._tracing import otel_installed
from ..errors import (
    CircuitOpenError,
    DaprError,
    DaprUnavailableError,
    InvalidRequestError,
    OutboxError,
)
from ._client import DaprApi, StateOperation, encode_json
from ._outbox_store import (
    OutboxEvent,
    OutboxRecord,
    OutboxStatus,
    OutboxStore,
    SqliteOutboxStore,
    take_relay_lock,
)

__all__ = ["Outbox", "OutboxMessage", "RelayHealth"]

logger = logging.getLogger("kugel_common.dapr.outbox")

MARKER_PREFIX = "kugel-outbox:"
_OUTAGE_RUN = 3  # answered failures in a row, with no success between: the path is down


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One event for :meth:`Outbox.commit`; the id defaults to a uuid4."""

    pubsub: str
    topic: str
    data: Any
    event_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RelayHealth:
    """``state``: stopped, standby (another process relays this file), running, restarting
    (waiting out the backoff after a failure) or dead (its task ended, or it has kept failing for
    longer than ``dead_after``)."""

    state: str
    restarts: int
    last_error: str | None

    @property
    def alive(self) -> bool:
        return self.state != "dead"


class Outbox:
    """``await outbox.publish(...)`` or ``await outbox.commit(...)``; ``async with outbox:``
    runs the relay.

    ``store`` is a path for the default SQLite store (``:memory:`` keeps nothing), or an
    :class:`OutboxStore`. Backoff starts at ``backoff_initial`` seconds and doubles up to
    ``backoff_max``. An event refused ``max_strikes`` times while other events got through is
    parked. A held event is resolved after ``hold_timeout`` seconds, which must exceed the
    deadline of a state call.
    """

    def __init__(
        self,
        dapr: DaprApi,
        store: OutboxStore | str | Path = ":memory:",
        *,
        clock: Clock | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_strikes: int = 5,
        hold_timeout: float = 60.0,
        marker_ttl: int = 24 * 3600,
        keep_delivered: float = 24 * 3600,
        poll_interval: float = 1.0,
        dead_after: float = 300.0,
    ) -> None:
        self._dapr = dapr
        self._store = store if not isinstance(store, str | Path) else SqliteOutboxStore(store)
        self._clock = clock or SystemClock()
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._max_strikes = max_strikes
        self._hold_timeout, self._marker_ttl = hold_timeout, marker_ttl
        self._keep_delivered, self._dead_after = keep_delivered, dead_after
        self._poll = poll_interval
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._state = "stopped"
        self._restarts = self._restarts_before = 0
        self._last_error: str | None = None
        self._failing_since: float | None = None
        self._due: dict[int, float] = {}  # seq -> when its next attempt may start
        self._tried: dict[int, float] = {}  # seq -> when its last attempt failed
        self._last_success: float | None = None
        self._housekept = float("-inf")

    async def __aenter__(self) -> Outbox:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- recording -----------------------------------------------------------------------------

    async def publish(self, pubsub: str, topic: str, data: Any, *, event_id: str | None = None,
                      metadata: Mapping[str, str] | None = None) -> str:
        """Record the event durably and return its id; the relay publishes it.

        Publishing an id again changes nothing, except that an event held by a commit whose
        outcome is unknown becomes pending: the caller vouches that the state committed (how
        a retried request re-drives its event). Raises
        :class:`~kugel_common.errors.OutboxError` when the event could not be recorded, and
        :class:`~kugel_common.errors.InvalidRequestError` (nothing recorded) when ``data`` is
        not JSON (NaN, Infinity).
        """
        event_id = event_id or str(uuid.uuid4())
        await self._store.add([_event(event_id, pubsub, topic, data, metadata)])
        self._wakeup.set()
        return event_id

    async def commit(self, store: str, operations: Sequence[StateOperation],
                     events: Sequence[OutboxMessage]) -> list[str]:
        """Run a state transaction and publish ``events`` if, and only if, it committed.

        The events are recorded held, the transaction also writes a marker key
        (``kugel-outbox:<uuid>``, kept ``marker_ttl`` seconds), and the events are released
        when it returns. If the call fails without an answer, the relay reads the marker later
        to decide. On state.redis an operation whose etag check fails does not undo the others,
        the marker included: give every operation either no etag or an etag that only a writer
        of the same values can have moved. A value JSON cannot encode, in an operation or an
        event, raises :class:`~kugel_common.errors.InvalidRequestError` before anything is
        recorded or sent.
        """
        encode_json([op.to_json() for op in operations], service=f"dapr:{store}",
                    what="the state operations", default=None)  # as the client will send them
        marker = f"{MARKER_PREFIX}{uuid.uuid4().hex}"
        held = f"{store}|{marker}"  # where the relay looks for the marker
        recorded = [_event(m.event_id or str(uuid.uuid4()), m.pubsub, m.topic, m.data, m.metadata)
                    for m in events]
        ids = [event.event_id for event in recorded]
        await self._store.add(recorded, marker=held)
        marker_op = StateOperation.upsert(marker, {"events": ids},
                                          metadata={"ttlInSeconds": str(self._marker_ttl)})
        try:
            await self._dapr.execute_state_transaction(store, [*operations, marker_op])
        except DaprError as exc:
            if _surely_not_applied(exc):
                await self._store.settle(held, committed=False)
            raise
        await self._store.add(recorded)  # pending now, even if the relay settled them already
        self._wakeup.set()
        return ids

    # -- operators -----------------------------------------------------------------------------

    async def status(self, event_id: str) -> OutboxRecord | None:
        return await self._store.record(event_id)

    async def counts(self) -> dict[OutboxStatus, int]:
        return await self._store.counts()

    async def records(self, status: OutboxStatus | None = None,
                      limit: int = 100) -> list[OutboxRecord]:
        """The events in the order they were recorded, e.g. ``records(OutboxStatus.PARKED)``."""
        return await self._store.records(status, limit)

    async def requeue(self, event_id: str | None = None) -> int:
        """Parked events back to pending (every parked one for None); how many."""
        count = await self._store.requeue(event_id)
        self._wakeup.set()
        return count

    async def drop(self, event_id: str) -> bool:
        """Forget a parked event for good; False if there is no such parked event."""
        return await self._store.drop(event_id)

    def health(self) -> RelayHealth:
        ended = self._task is not None and self._task.done() and not self._task.cancelled()
        stuck = (self._failing_since is not None
                 and self._clock.now() - self._failing_since > self._dead_after)
        return RelayHealth("dead" if ended or stuck else self._state, self._restarts,
                           self._last_error)

    async def snapshot(self) -> dict[str, Any]:
        """The relay's health, the counts and the age of the oldest waiting event: for
        ``/dependencies``. A store that cannot be read is reported, not raised."""
        health = self.health()
        body: dict[str, Any] = {"relay": health.state, "restarts": health.restarts,
                                "last_error": health.last_error}
        try:
            counts = await self._store.counts()
            oldest = await self._store.oldest_waiting()
        except OutboxError as exc:
            body["store_error"] = exc.reason
            return body
        body.update({status.value: n for status, n in counts.items()})
        body["oldest_waiting_seconds"] = None if oldest is None else round(
            max(0.0, time.time() - oldest), 3)
        return body

    # -- the relay -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the relay; events left by an earlier process go first."""
        if self._task is None:
            self._wakeup.set()
            self._task = asyncio.create_task(self._supervise(), name="outbox relay")

    async def drain(self, timeout: float) -> None:
        """Wait until nothing is held or pending (shutdown, tests); TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while True:
                counts = await self._store.counts()
                if not counts[OutboxStatus.PENDING] and not counts[OutboxStatus.HELD]:
                    return
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._state = "stopped"
        self._store.close()

    async def _supervise(self) -> None:
        """Run the relay for good: any error is logged and the relay restarts after a backoff."""
        with self._relay_lock() as acquire:
            while True:
                try:
                    await acquire()
                    self._state = "running"
                    await self._relay()
                except Exception as exc:
                    now = self._clock.now()
                    if self._failing_since is None:
                        self._failing_since = now
                    self._restarts += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    delay = self._backoff(self._restarts - 1 - self._restarts_before)
                    self._state = "restarting"
                    logger.error("outbox relay failed (%s); restarting in %.2fs",
                                 self._last_error, delay, exc_info=exc)
                    await self._clock.sleep(delay)
                    continue

    @contextlib.contextmanager
    def _relay_lock(self) -> Iterator[Any]:
        path = getattr(self._store, "path", ":memory:")
        handle: int | None = None

        async def acquire() -> None:
            nonlocal handle
            if path == ":memory:":
                return
            self._state = "running"
            while not getattr(self._store, "created", True):  # no file, no lock file either
                self._wakeup.clear()
                if not getattr(self._store, "created", True):
                    await self._wait(None)  # the first event creates the file
            while handle is None:
                handle = take_relay_lock(path)
                if handle is None:
                    self._state = "standby"
                    await asyncio.sleep(self._poll)

        try:
            yield acquire
        finally:
            if handle is not None:
                os.close(handle)

    async def _relay(self) -> None:
        outages = 0
        while True:
            self._wakeup.clear()
            await self._housekeeping()
            outage, next_due = await self._pass()
            self._failing_since = None
            self._restarts_before = self._restarts  # a clean pass: the next failure backs off anew
            if outage:  # WARNING once when it starts, INFO when it ends: not one per retry
                delay = self._backoff(outages)
                if not outages:
                    logger.warning("outbox: sidecar unavailable; events wait on disk, "
                                   "retrying with backoff up to %.0fs", self._backoff_max)
                outages += 1
                logger.debug("outbox: retrying in %.2fs", delay)
                await self._clock.sleep(delay)
                continue
            if outages:
                logger.info("outbox: sidecar available again after %d retries", outages)
            outages = 0
            await self._wait(next_due)

    async def _pass(self) -> tuple[bool, float | None]:
        """Send every due pending event once, in order. (outage?, earliest not-yet-due)"""
        cursor, next_due, failed_run = 0, None, 0
        while True:
            events = await self._store.page(cursor, 200)
            if not events:
                return False, next_due
            cursor = events[-1].seq
            for event in events:
                due = self._due.get(event.seq)
                if due is not None and due > self._clock.now():
                    next_due = due if next_due is None else min(next_due, due)
                    continue
                outcome = await self._send(event)
                if outcome == "outage":
                    return True, next_due
                failed_run = failed_run + 1 if outcome == "failed" else 0
                if failed_run >= _OUTAGE_RUN:
                    return True, next_due

    async def _send(self, event: OutboxEvent) -> str:
        try:
            await self._publish(event)
        except DaprUnavailableError as exc:
            now = self._clock.now()
            self._due[event.seq] = now + self._backoff(event.attempts)
            answered = exc.response is not None and not isinstance(exc, CircuitOpenError)
            # Only a refusal while other events get through counts against the event itself.
            previous = self._tried.get(event.seq)
            strike = answered and self._last_success is not None and (
                previous is None or self._last_success > previous)
            park = strike and event.strikes + 1 >= self._max_strikes
            self._tried[event.seq] = now
            await self._store.failed(event.seq, _describe(exc), strike=strike, park=park)
            if park:
                logger.error("outbox: event %s to %s/%s parked after %d refusals: %s",
                             event.event_id, event.pubsub, event.topic, event.strikes + 1, exc)
            return "failed" if answered else "outage"
        except (DaprError, InvalidRequestError) as exc:  # e.g. NaN recorded by an older kugel
            await self._store.failed(event.seq, _describe(exc), strike=True, park=True)
            logger.error("outbox: event %s to %s/%s refused and parked: %s", event.event_id,
                         event.pubsub, event.topic, exc)
            self._forget(event.seq)
            return "parked"
        await self._store.delivered(event.seq)
        self._last_success = self._clock.now()
        self._forget(event.seq)
        return "delivered"

    async def _publish(self, event: OutboxEvent) -> None:
        with self._producer_span(event):
            await self._dapr.publish_event(event.pubsub, event.topic, event.data,
                                           event_id=event.event_id, metadata=event.metadata)

    def _producer_span(self, event: OutboxEvent) -> contextlib.AbstractContextManager[object]:
        """With OpenTelemetry installed, a PRODUCER span per attempt under the event's recorded
        trace context: the publish call becomes its child, so the sidecar puts that trace into
        the CloudEvent however late the event goes out."""
        if not otel_installed():
            return contextlib.nullcontext()
        from .._event_spans import producer_span

        return producer_span(event.trace, pubsub=event.pubsub, topic=event.topic,
                             event_id=event.event_id, attempt=event.attempts + 1,
                             outbox=str(getattr(self._store, "path", type(self._store).__name__)))

    def _forget(self, seq: int) -> None:
        self._due.pop(seq, None)
        self._tried.pop(seq, None)

    async def _housekeeping(self) -> None:
        """Once a second at most: settle held events whose request is over, forget old
        delivered ones."""
        if self._clock.now() - self._housekept < 1.0:
            return
        self._housekept = self._clock.now()
        for held in await self._store.held_markers(time.time() - self._hold_timeout):
            store, _, marker = held.partition("|")
            try:
                found = await self._dapr.get_state_with_etag(store, marker)
            except DaprUnavailableError:
                return  # try again later
            await self._store.settle(held, committed=found is not None)
            logger.warning("outbox: events held by %s: %s", marker,
                           "committed, publishing" if found else "never committed, dropped")
        await self._store.prune(time.time() - self._keep_delivered)

    async def _wait(self, next_due: float | None) -> None:
        """Until woken (a new event), the next retry is due, or the poll for events that
        other processes recorded."""
        if next_due is None:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
            # as the event is set, and stop() then waits for the relay for ever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wakeup.wait()
            return
        sleep = asyncio.ensure_future(
            self._clock.sleep(max(0.0, min(self._poll, next_due - self._clock.now()))))
        woken = asyncio.ensure_future(self._wakeup.wait())
        try:
            await asyncio.wait({sleep, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            woken.cancel()

    def _backoff(self, failures: int) -> float:
        return float(min(self._backoff_max, self._backoff_initial * 2 ** min(failures, 30)))


def _event(event_id: str, pubsub: str, topic: str, data: Any,
           metadata: Mapping[str, str] | None) -> OutboxEvent:
    """The event to record, refused now if the relay could never send its data, with the
    current trace context (nothing without OpenTelemetry or an active span)."""
    encode_json(data, service=f"dapr:{pubsub}", what=f"the data of event {event_id}")
    return OutboxEvent(0, event_id, pubsub, topic, data, dict(metadata or {}),
                       trace=_trace_context())


def _trace_context() -> dict[str, str] | None:
    if not otel_installed():
        return None
    from .._event_spans import current_carrier

    return current_carrier()


def _surely_not_applied(error: DaprError) -> bool:
    """The sidecar refused the call before touching the store, or it was never sent."""
    status = error.status_code
    return isinstance(error, CircuitOpenError) or (status is not None and 400 <= status < 500)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
