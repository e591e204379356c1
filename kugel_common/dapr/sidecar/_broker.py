"""The local sidecar's message broker: pubsub.redis's consumer over a :class:`Streams` store.

For each subscription (app id, pubsub, topic) it runs what components-contrib's
``pubsub/redis`` runs: a reader of new entries, a reclaimer of stale pending ones, and
``concurrency`` workers (default 10), so deliveries to one app overlap and finish in any order.

A worker hands each entry to the subscription's handler and acks it when the handler
succeeds. When the handler fails, pubsub.redis (components-contrib 1.17 and later,
``processMessage``) acks it **anyway**, unless the handler ran longer than
``processingTimeout``: only then does it stay pending, to be claimed again by the reclaimer,
which every ``redeliverInterval`` claims entries pending for ``processingTimeout`` or longer.
A broker of another type keeps a failed entry pending instead. Acks need the broker up: an
entry whose ack fails stays pending, as when Redis is down.

Each pubsub component's events live in its :class:`Streams`: the embedded SQLite streams, or
those :meth:`Broker.route` gives it (its real Redis). Taking the broker down (:meth:`Broker.
set_available`) works the same on every backend: publishes fail, reading and acks pause.

Every accepted event is stored before the publish call returns, with its publish metadata (the
JSON daprd writes) and trimming the stream as pubsub.redis's ``XADD`` does (:class:`StreamLimits`),
so a restart of the sidecar loses nothing that was not trimmed: unread entries are read, and
pending ones are claimed once stale.
Several processes may share one SQLite file (each delivers to its own apps): another process's
publish cannot wake a reader here, so a reader also looks for new entries every ``poll`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._components import Component
from ._delivery import Subscription, Verdict
from ._events import BrokerUnavailable, Published
from ._gojson import go_marshal, go_string_map
from ._settings import redis_settings
from ._streams import Entry, SqliteStreams, Streams, Trim

__all__ = ["Broker", "ConsumerSettings", "Message", "StreamLimits"]

logger = logging.getLogger("kugel_common.dapr.sidecar")


@dataclass(frozen=True, slots=True)
class Message:
    """An entry as a subscription's handler gets it: the bytes the publisher's sidecar stored."""

    id: str
    pubsub: str
    topic: str
    data: bytes
    deliveries: int = 1
    metadata: Mapping[str, str] | None = None  # the publish metadata; None: the entry has none

    @property
    def body(self) -> Any:
        """The data as JSON when it is JSON, else the bytes."""
        try:
            return json.loads(self.data)
        except ValueError:
            return self.data


Deliver = Callable[[str, Subscription, Message], Awaitable[Verdict]]


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """pubsub.redis's consumer metadata, with the defaults its code sets (``common/component/
    redis/redis.go``; the documentation swaps the two timings): ``processingTimeout`` 60 s,
    ``redeliverInterval`` 15 s. 0 for either turns redelivery off."""

    concurrency: int = 10
    queue_depth: int = 100
    processing_timeout: float = 60.0
    redeliver_interval: float = 15.0
    acks_failures: bool = True
    consumer_id: str = ""  # the consumer group; empty: the app id

    @classmethod
    def of(cls, component: Component | None) -> ConsumerSettings:
        """The component's settings as its Init decodes them (:func:`redis_settings`)."""
        if component is None:
            return cls()
        settings = redis_settings(component)
        return cls(
            concurrency=settings.concurrency,  # 0: no workers, as pubsub.redis starts none
            queue_depth=settings.queue_depth or 100,
            processing_timeout=settings.processing_timeout,
            redeliver_interval=settings.redeliver_interval,
            acks_failures=component.type == "pubsub.redis",
            consumer_id=settings.consumer_id,
        )

    @property
    def redelivers(self) -> bool:
        return bool(self.processing_timeout and self.redeliver_interval)


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """pubsub.redis's stream trimming, applied by every ``XADD`` (components-contrib
    ``common/component/redis/settings.go``): ``maxLenApprox`` keeps about that many entries;
    else ``streamTTL`` (a Go duration, or milliseconds) drops entries older than that. 0:
    no limit. Setting both is allowed, with a warning, and ``maxLenApprox`` wins, as go-redis's
    ``XAddArgs`` sends one of the two."""

    max_len: int = 0
    ttl: float = 0.0  # seconds

    @classmethod
    def of(cls, component: Component) -> StreamLimits:
        """:class:`InvalidSetting` for a value daprd's component refuses in its Init."""
        if component.type != "pubsub.redis":
            return cls()
        settings = redis_settings(component)
        max_len, ttl = settings.max_len_approx, settings.stream_ttl
        if max_len > 0 and ttl > 0:
            logger.warning("pubsub %s: maxLenApprox and streamTTL cannot be used together; "
                           "maxLenApprox trims the streams", component.name)
        return cls(max(max_len, 0), ttl)

    def trim(self, now: float) -> Trim:
        """How an ``XADD`` at ``now`` trims: go-redis sends ``MAXLEN`` when it is set."""
        if self.max_len:
            return Trim(max_len=self.max_len)
        if self.ttl:
            return Trim(min_ms=int((now - self.ttl) * 1000))
        return Trim()


class Broker:
    """Stores events and runs a consumer per (app id, pubsub, topic) subscription."""

    def __init__(self, database: str = ":memory:", *,
                 clock: Callable[[], float] = time.time, poll: float = 1.0) -> None:
        self.streams = SqliteStreams(database, clock=clock)  # every pubsub not routed elsewhere
        self._routes: dict[str, Streams] = {}
        self._limits: dict[str, StreamLimits] = {}
        self.poll = poll
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._up = asyncio.Event()
        self._up.set()
        self._outage_noted = False
        self._tick = asyncio.Event()
        self._closing = False

    @property
    def closing(self) -> bool:
        """Set by ``aclose``: every consumer loop ends on it too, since a cancel can be lost
        on the way (a client library that turns it into its own error, asyncio.timeout's
        race on Python 3.11), and a lost one held the sidecar's stop forever."""
        return self._closing

    @property
    def available(self) -> bool:
        return self._up.is_set()

    def set_available(self, available: bool) -> None:
        """Take the broker down (publishes and acks fail, reading pauses) or bring it back:
        how the local stack shows an outage of the event path while state stays up."""
        if available == self.available:
            return  # one outage, however often it is switched down
        if available:
            self._up.set()
        else:
            self._up.clear()
            self._outage_noted = False
        logger.warning("broker %s", "back up" if available else "down")

    def outage_noted(self) -> None:
        """Say once per outage that acks wait: one line, not one per event."""
        if not self._outage_noted:
            self._outage_noted = True
            logger.warning("broker down: events delivered meanwhile are not acked; they stay "
                           "pending, for the reclaimer to redeliver")

    def route(self, streams: Mapping[str, Streams]) -> None:
        """Keep these pubsub components' events in their own streams; before any ``attach``."""
        self._routes.update(streams)

    def limit(self, limits: Mapping[str, StreamLimits]) -> None:
        """Trim these pubsub components' streams on every publish."""
        self._limits.update(limits)

    def streams_of(self, pubsub: str) -> Streams:
        return self._routes.get(pubsub, self.streams)

    def wake(self) -> None:
        """Make the reclaimers look at the clock now: for tests that move a fake clock."""
        self._tick.set()

    async def publish(self, published: Published) -> str:
        if not self.available:
            raise BrokerUnavailable("the message broker is down")
        body = published.body if published.raw else json.dumps(published.body).encode()
        metadata = None if published.metadata is None else go_marshal(
            dict(published.metadata), std=True)  # pubsub.redis's json.Marshal
        trim = self._limits.get(published.pubsub, StreamLimits()).trim(self.now())
        return await self.streams_of(published.pubsub).add(published.pubsub, published.topic,
                                                           body, metadata, trim)

    async def pending(self, app_id: str, pubsub: str, topic: str) -> int:
        """Events of the topic that the app's consumer group has not acked."""
        return await self.streams_of(pubsub).backlog(app_id, pubsub, topic)

    def attach(self, app_id: str, subscription: Subscription, deliver: Deliver,
               settings: ConsumerSettings | None = None) -> None:
        """Start consuming the subscription's topic for the app: its backlog first."""
        consumer = _Consumer(self, app_id, subscription, deliver, settings or ConsumerSettings())
        name = f"{subscription.topic} to {app_id}"
        if not consumer.settings.concurrency:
            logger.warning("pubsub %s: concurrency is 0, so %s is never delivered (pubsub.redis "
                           "starts no workers either)", subscription.pubsub, name)
        self._tasks += [asyncio.create_task(consumer.read(), name=f"read {name}"),
                        asyncio.create_task(consumer.reclaim(), name=f"reclaim {name}")]
        self._tasks += [asyncio.create_task(consumer.work(), name=f"deliver {name}")
                        for _ in range(consumer.settings.concurrency)]

    async def aclose(self) -> None:
        self._closing = True
        self._tick.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for streams in [self.streams, *self._routes.values()]:
            await streams.aclose()
        self._routes.clear()

    async def until_up(self) -> None:
        await self._up.wait()

    async def until_tick(self, seconds: float) -> None:
        """Wait ``seconds`` of real time, or less when :meth:`wake` is called."""
        if self._closing:
            return
        self._tick.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._tick.wait()

    def now(self) -> float:
        return self._clock()


class _Consumer:
    """pubsub.redis's ``Subscribe``: a reader, a reclaimer and a pool of workers."""

    def __init__(self, broker: Broker, app_id: str, sub: Subscription, deliver: Deliver,
                 settings: ConsumerSettings) -> None:
        self.broker, self.app_id, self.sub, self.deliver = broker, app_id, sub, deliver
        self.settings = settings
        self.group = settings.consumer_id or app_id
        self.streams = broker.streams_of(sub.pubsub)
        self.queue: asyncio.Queue[Entry] = asyncio.Queue(settings.queue_depth)

    async def read(self) -> None:
        while not self.broker.closing:
            await self.broker.until_up()
            try:
                entries = await self.streams.read_new(
                    self.group, self.sub.pubsub, self.sub.topic, self.settings.queue_depth,
                    self.broker.poll)
            except Exception:
                logger.exception("reading %s for %s failed", self.sub.topic, self.app_id)
                await self.broker.until_tick(1.0)
                continue
            for entry in entries:
                await self.queue.put(entry)

    async def reclaim(self) -> None:
        """At start, then every ``redeliverInterval``: entries pending long enough."""
        if not self.settings.redelivers:
            return
        due = self.broker.now()
        while not self.broker.closing:
            if self.broker.now() >= due and self.broker.available:
                due = self.broker.now() + self.settings.redeliver_interval
                try:
                    while claimed := await self.streams.claim(
                            self.group, self.sub.pubsub, self.sub.topic,
                            self.settings.processing_timeout, self.settings.queue_depth):
                        for entry in claimed:
                            await self.queue.put(entry)
                except Exception:
                    logger.exception("reclaiming %s for %s failed", self.sub.topic, self.app_id)
            await self.broker.until_tick(due - self.broker.now())

    async def work(self) -> None:
        """No error stops a worker: each entry ends acked or pending, never stuck."""
        while not self.broker.closing:
            entry = await self.queue.get()
            message = Message(entry.id, self.sub.pubsub, self.sub.topic, entry.data,
                              entry.deliveries, self._metadata(entry))
            started = self.broker.now()
            try:
                verdict = await self.deliver(self.app_id, self.sub, message)
            except Exception:
                logger.exception("delivery of %s to %s failed", self.sub.topic, self.app_id)
                verdict = Verdict.RETRY
            if verdict is Verdict.RETRY and not self._acks_failure(started):
                logger.warning("event %s on %s for %s stays pending: redelivered once idle "
                               "for %s s", entry.id, self.sub.topic, self.app_id,
                               self.settings.processing_timeout)
                continue
            if verdict is Verdict.RETRY:
                logger.error("event %s on %s for %s failed; pubsub.redis acks it anyway: the "
                             "event is lost", entry.id, self.sub.topic, self.app_id)
            if not self.broker.available:  # switched down on purpose: no traceback
                self.broker.outage_noted()
                continue
            try:
                await self.streams.ack(self.group, self.sub.pubsub, self.sub.topic, entry.id)
            except Exception:
                logger.exception("ack of %s on %s for %s failed: it stays pending", entry.id,
                                 self.sub.topic, self.app_id)

    @staticmethod
    def _metadata(entry: Entry) -> dict[str, str] | None:
        """pubsub.redis decodes the field with json.Unmarshal and delivers even if that fails."""
        if entry.metadata is None:
            return None
        metadata, error = go_string_map(entry.metadata)
        if error is not None:
            logger.warning("Redis PubSub: Could not extract metadata for Redis message %s: %s",
                           entry.id, error)
        return metadata

    def _acks_failure(self, started: float) -> bool:
        """pubsub.redis acks a failed entry unless its handler outlived processingTimeout."""
        timed_out = (self.settings.redelivers
                     and self.broker.now() - started >= self.settings.processing_timeout)
        return self.settings.acks_failures and not timed_out

