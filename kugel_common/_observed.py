"""kugel's own counters as OpenTelemetry observable instruments, read from the ``/dependencies``
snapshot when the SDK collects, so no counter is kept twice.

Names are those of ``/metrics`` with dots: OpenTelemetry's Prometheus exporter writes
``kugel.retries`` as ``kugel_retries_total``, the same series. Attributes: ``kugel.service``,
``url.template``, ``error.type``, ``state``.

The SDK calls the callbacks from its reader's thread (a periodic exporter's, a Prometheus
exporter's); the snapshot is taken on the app's event loop, as ``/dependencies`` takes it, and
shared by every instrument of one collection (reused for ``_REUSE`` seconds). A collection run
on the app's own loop cannot wait for it and observes nothing. A process normally serves one
app; the resource's ``service.name`` names it, so the attributes do not. Only imported when
opentelemetry-api is installed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ._breaker import BreakerState
from ._metric_catalog import ENDPOINT_COUNTERS, OUTBOX_COUNTS, RELAY_STATES
from ._version import __version__

__all__ = ["observe_app"]

logger = logging.getLogger("kugel_common.metrics")

Snapshot = Mapping[str, Any]
Source = Callable[[], Coroutine[Any, Any, Snapshot]]
Reading = Callable[[Snapshot], Iterator[tuple[float, dict[str, str]]]]

_REUSE = 1.0


class _Sources:
    """The live apps' snapshot functions, and the last snapshots taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, tuple[Source, asyncio.AbstractEventLoop]] = {}
        self._taken: tuple[float, list[Snapshot]] = (float("-inf"), [])

    def add(self, source: Source, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        key = id(source)
        with self._lock:
            self._live[key] = (source, loop)
            self._taken = (float("-inf"), [])
        return lambda: self._remove(key)

    def _remove(self, key: int) -> None:
        with self._lock:
            self._live.pop(key, None)
            self._taken = (float("-inf"), [])

    def snapshots(self, timeout: float) -> list[Snapshot]:
        with self._lock:  # not held while waiting: the app's loop may be adding or removing
            at, taken = self._taken
            live = list(self._live.values())
        if time.monotonic() - at < _REUSE:
            return taken
        taken = [snapshot for snapshot in (self._take(each, timeout) for each in live)
                 if snapshot is not None]
        with self._lock:
            if len(live) == len(self._live):
                self._taken = (time.monotonic(), taken)
        return taken

    @staticmethod
    def _take(live: tuple[Source, asyncio.AbstractEventLoop], timeout: float) -> Snapshot | None:
        source, loop = live
        try:
            if asyncio.get_running_loop() is loop:
                logger.warning("metrics collected on the app's own event loop: nothing observed "
                               "(collect from another thread, as the SDK's readers do)")
                return None
        except RuntimeError:  # no loop in this thread: the reader's own
            pass
        try:
            return asyncio.run_coroutine_threadsafe(source(), loop).result(timeout)
        except Exception:  # a stopped loop, a timeout: this collection misses the app
            logger.warning("metrics: the app's snapshot could not be taken", exc_info=True)
            return None


_SOURCES = _Sources()
_INSTRUMENTED: weakref.WeakSet[metrics.MeterProvider] = weakref.WeakSet()
_INSTRUMENTED_LOCK = threading.Lock()


def observe_app(source: Source) -> Callable[[], None]:
    """Observe the snapshots ``source`` takes on the running loop; returns the undo, for the
    app's shutdown. The instruments are made once per meter provider."""
    provider = metrics.get_meter_provider()
    with _INSTRUMENTED_LOCK:
        if provider not in _INSTRUMENTED:
            _instrument(provider.get_meter("kugel_common", __version__))
            _INSTRUMENTED.add(provider)
    return _SOURCES.add(source, asyncio.get_running_loop())


def _callback(reading: Reading) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        timeout = min(options.timeout_millis / 1000, 5.0)
        return [Observation(value, attributes) for snapshot in _SOURCES.snapshots(timeout)
                for value, attributes in reading(snapshot)]
    return observe


def _instrument(meter: metrics.Meter) -> None:
    counters: list[tuple[str, str, Reading]] = [
        *((name, text, _per_endpoint(key)) for name, key, text in ENDPOINT_COUNTERS),
        ("kugel.client.call_failures", "Calls that failed, by cause.", _failures),
        ("kugel.breaker.transitions", "Breaker changes, by the state entered.", _transitions),
        ("kugel.client.connections_opened", "TCP connections opened.", _connections),
        ("kugel.outbox.relay_restarts", "Relay restarts after a failure.",
         _value("outbox", "restarts")),
        ("kugel.consumer.applied", "Events the idempotent consumer applied.",
         _value("consumer", "applied")),
        ("kugel.consumer.duplicates", "Redelivered events the idempotent consumer skipped.",
         _value("consumer", "duplicates")),
    ]
    for name, text, reading in counters:
        meter.create_observable_counter(name, [_callback(reading)], description=text)
    gauges: list[tuple[str, str, str, Reading]] = [
        ("kugel.breaker.state", "1 for the breaker's current state.", "", _breaker_state),
        ("kugel.outbox.relay_state", "1 for the relay's current state.", "", _relay_state),
        ("kugel.outbox.store_readable",
         "0 when the outbox store could not be read for this collection.", "", _readable),
        *((f"kugel.outbox.{status}", text, "", _value("outbox", status))
          for status, text in OUTBOX_COUNTS),
        ("kugel.outbox.oldest_waiting_age",
         "Age of the oldest held or pending event; 0 when none waits.", "s", _oldest),
    ]
    for name, text, unit, reading in gauges:
        meter.create_observable_gauge(name, [_callback(reading)], unit=unit, description=text)


# -- readings: a snapshot's values and their attributes, as /metrics shows them ------------------


def _endpoints(snapshot: Snapshot) -> Iterator[tuple[dict[str, str], Mapping[str, Any]]]:
    for service, seen in snapshot["services"].items():
        for template, endpoint in seen["endpoints"].items():
            yield {"kugel.service": service, "url.template": template}, endpoint


def _per_endpoint(key: str) -> Reading:
    def read(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
        for attributes, endpoint in _endpoints(snapshot):
            yield endpoint[key], attributes
    return read


def _failures(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
    for attributes, endpoint in _endpoints(snapshot):
        for error_type, count in endpoint["failures"].items():
            yield count, {**attributes, "error.type": error_type}


def _breaker_state(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
    for service, seen in snapshot["services"].items():
        for state in BreakerState:
            yield float(seen["breaker"] == state.value), {"kugel.service": service,
                                                          "state": state.value}


def _transitions(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
    for service, seen in snapshot["services"].items():
        for state in BreakerState:
            yield (seen["breaker_transitions"].get(state.value, 0),
                   {"kugel.service": service, "state": state.value})


def _connections(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
    for service, seen in snapshot["services"].items():
        yield seen["connections_opened"], {"kugel.service": service}


def _relay_state(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
    for state in RELAY_STATES:
        yield float(snapshot["outbox"]["relay"] == state), {"state": state}


def _readable(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
    yield float("store_error" not in snapshot["outbox"]), {}


def _value(part: str, key: str) -> Reading:
    """One number of the snapshot's ``outbox`` or ``consumer``; none when absent (an outbox
    store that could not be read has no counts)."""
    def read(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
        if key in snapshot[part]:
            yield snapshot[part][key], {}
    return read


def _oldest(snapshot: Snapshot) -> Iterator[tuple[float, dict[str, str]]]:
    outbox = snapshot["outbox"]
    if "store_error" not in outbox:
        oldest = outbox["oldest_waiting_seconds"]
        yield 0.0 if oldest is None else oldest, {}
