"""The local broker as pubsub.redis consumes: concurrent workers, acks, pending and reclaim.

Time is a FakeClock: redelivery is reached by moving it and waking the reclaimers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from kugel_common.dapr.sidecar import Component
from kugel_common.dapr.sidecar._broker import Broker, ConsumerSettings, Message
from kugel_common.dapr.sidecar._delivery import Subscription, Verdict
from kugel_common.dapr.sidecar._events import Published
from kugel_common.dapr.sidecar._redis_client import connect
from kugel_common.dapr.sidecar._redis_streams import RedisStreams
from kugel_common.dapr.sidecar._streams import Entry, SqliteStreams, Streams
from kugel_common.testing import FakeClock

from ..waiting import drained, until

SUB = Subscription("pubsub", "sales", "/sales")


@pytest.fixture(params=["embedded", "redis"])
async def streams(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Streams]]:
    """What Broker.route gets: nothing (embedded), or pubsub's streams on a private Redis."""
    if request.param == "embedded":
        yield {}
        return
    server = request.getfixturevalue("redis")
    client = await connect("127.0.0.1", server.port)
    await client.flushdb()
    yield {"pubsub": RedisStreams(client)}
    await client.aclose()  # the broker closed it already; closing twice is harmless


def broker_on(streams: dict[str, Streams], clock: FakeClock) -> Broker:
    broker = Broker(clock=clock.now)
    broker.route(streams)
    return broker


async def publish(broker: Broker, count: int) -> None:
    for n in range(count):
        await broker.publish(Published("pubsub", "sales", {"data": {"n": n}}))


def test_settings_are_read_as_components_contrib_reads_them() -> None:
    assert ConsumerSettings.of(Component("p", "pubsub.redis")) == ConsumerSettings()
    settings = ConsumerSettings.of(Component("p", "pubsub.redis", metadata={
        "concurrency": "3", "processingTimeout": "2s", "redeliverInterval": "30s",
        "consumerID": "grp"}))
    assert (settings.concurrency, settings.processing_timeout) == (3, 2.0)
    assert settings.redeliver_interval == 15.0  # a duration string is ignored: only ms count
    assert ConsumerSettings.of(Component("p", "pubsub.redis", metadata={
        "redeliverInterval": "500"})).redeliver_interval == 0.5
    assert settings.consumer_id == "grp" and settings.acks_failures
    assert not ConsumerSettings.of(Component("p", "pubsub.kafka")).acks_failures


async def test_at_most_concurrency_in_flight_and_out_of_order(
        streams: dict[str, Streams]) -> None:
    broker = broker_on(streams, FakeClock())
    in_flight, most, done = 0, 0, []
    release = asyncio.Event()

    async def deliver(app_id: str, sub: Subscription, message: Message) -> Verdict:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        n = message.body["data"]["n"]
        if n == 0:  # the first event is slow: later ones overtake it
            await release.wait()
        await asyncio.sleep(0)
        in_flight -= 1
        done.append(n)
        return Verdict.ACK

    broker.attach("report", SUB, deliver, ConsumerSettings(concurrency=3))
    await publish(broker, 12)
    await until(lambda: len(done) == 11)
    release.set()
    await until(lambda: len(done) == 12)
    assert most == 3
    assert done[-1] == 0 and sorted(done) == list(range(12))
    assert await broker.pending("report", "pubsub", "sales") == 0
    await broker.aclose()


async def test_concurrency_zero_delivers_nothing_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    """pubsub.redis starts ``concurrency`` workers: with 0, none (a uint, so 0 is kept). The
    worker count does not depend on the backend, so the embedded one shows it."""
    streams: dict[str, Streams] = {}
    settings = ConsumerSettings.of(Component("p", "pubsub.redis",
                                             metadata={"concurrency": "0"}))
    assert settings.concurrency == 0
    broker = broker_on(streams, FakeClock())
    delivered: list[Message] = []

    async def deliver(app_id: str, sub: Subscription, message: Message) -> Verdict:
        delivered.append(message)
        return Verdict.ACK

    with caplog.at_level(logging.WARNING, logger="kugel_common.dapr.sidecar"):
        broker.attach("report", SUB, deliver, settings)
    await publish(broker, 3)
    for _ in range(20):
        await asyncio.sleep(0)
    assert delivered == []
    assert await broker.pending("report", "pubsub", "sales") == 3
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    await broker.aclose()


async def test_pubsub_redis_acks_a_handler_that_fails_fast(streams: dict[str, Streams]) -> None:
    """components-contrib 1.17+ processMessage: a failed handler is XACKed: the event is gone."""
    broker = broker_on(streams, FakeClock())
    attempts: Counter[int] = Counter()

    async def deliver(app_id: str, sub: Subscription, message: Message) -> Verdict:
        n = message.body["data"]["n"]
        attempts[n] += 1
        if n == 1:
            raise RuntimeError("a bad route")  # an error of the sidecar's own
        return Verdict.RETRY if n == 2 else Verdict.ACK

    broker.attach("report", SUB, deliver, ConsumerSettings())
    await publish(broker, 5)
    await until(lambda: sum(attempts.values()) == 5
                and drained(broker, "report", "pubsub", "sales"))
    assert attempts == Counter(range(5))  # every event once; no error stopped the others
    await broker.aclose()


async def test_a_handler_that_outlives_processing_timeout_is_reclaimed() -> None:
    """Pending for processingTimeout (60 s), it is claimed at the reclaimer's next tick (every
    15 s), even while the first delivery still runs; that one's failure is then not acked."""
    clock = FakeClock()
    broker = Broker(clock=clock.now)
    attempts: list[int] = []
    release = asyncio.Event()

    async def deliver(app_id: str, sub: Subscription, message: Message) -> Verdict:
        attempts.append(message.deliveries)
        if message.deliveries == 1:
            await release.wait()
            return Verdict.RETRY
        return Verdict.ACK

    broker.attach("report", SUB, deliver, ConsumerSettings())
    await publish(broker, 1)
    await until(lambda: attempts == [1])
    clock.advance(45)
    broker.wake()  # ticks at 15, 30, 45: idle 45 s is not enough
    await asyncio.sleep(0.05)
    assert attempts == [1]
    clock.advance(15)
    broker.wake()
    await until(lambda: attempts == [1, 2])  # claimed while the first still runs
    await until(lambda: drained(broker, "report", "pubsub", "sales"))
    release.set()  # the first fails late: no ack, but the entry is already acked
    await asyncio.sleep(0.05)
    assert attempts == [1, 2] and await drained(broker, "report", "pubsub", "sales")
    await broker.aclose()


@pytest.mark.parametrize("down_during", ["ack", "read"])
async def test_a_broker_outage_keeps_events_pending(down_during: str,
                                                   streams: dict[str, Streams]) -> None:
    """Whatever the backend: the reclaimer claims what was pending 50 ms (Redis keeps real
    time) once the fake clock reaches its next tick."""
    clock = FakeClock()
    broker = broker_on(streams, clock)
    seen: list[int] = []

    async def deliver(app_id: str, sub: Subscription, message: Message) -> Verdict:
        seen.append(message.body["data"]["n"])
        if down_during == "ack" and len(seen) == 1:
            broker.set_available(False)  # the ack fails: the entry stays pending
        return Verdict.ACK

    # another broker type: a failure stays pending too
    broker.attach("report", SUB, deliver,
                  ConsumerSettings(acks_failures=False, processing_timeout=0.05))
    if down_during == "read":
        broker.set_available(False)
    await asyncio.sleep(0.05)
    if down_during == "read":
        broker.set_available(True)
    await publish(broker, 1)
    await until(lambda: seen == [0])
    await asyncio.sleep(0.06)
    assert await broker.pending("report", "pubsub", "sales") == int(down_during == "ack")
    broker.set_available(True)
    clock.advance(75)
    broker.wake()
    await until(lambda: drained(broker, "report", "pubsub", "sales"))
    assert seen == ([0, 0] if down_during == "ack" else [0])
    await broker.aclose()


def sidecar_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "kugel_common.dapr.sidecar"]


async def test_a_deliberate_outage_logs_one_warning_per_outage_and_no_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    """Acks wait while the broker is switched down (SIGUSR1): one line says so, however many
    events are delivered meanwhile."""
    broker = Broker(clock=FakeClock().now)
    seen: list[int] = []  # each delivery switches it down again: still one outage

    async def deliver(app_id: str, sub: Subscription, message: Message) -> Verdict:
        broker.set_available(False)
        seen.append(message.body["data"]["n"])
        return Verdict.ACK

    await publish(broker, 3)
    with caplog.at_level(logging.WARNING, logger="kugel_common.dapr.sidecar"):
        broker.attach("report", SUB, deliver, ConsumerSettings(concurrency=3))
        await until(lambda: len(seen) == 3)
        await asyncio.sleep(0.02)
    records = sidecar_records(caplog)
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in records)
    assert len(records) == 2  # "broker down", then one line: acks wait
    assert await broker.pending("report", "pubsub", "sales") == 3
    await broker.aclose()


async def test_a_failing_ack_with_the_broker_up_still_logs_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker(clock=FakeClock().now)

    async def ack(*args: object) -> None:
        raise RuntimeError("a bug in the streams")

    broker.streams.ack = ack  # type: ignore[method-assign]

    async def deliver(app_id: str, sub: Subscription, message: Message) -> Verdict:
        return Verdict.ACK

    await publish(broker, 1)
    with caplog.at_level(logging.WARNING, logger="kugel_common.dapr.sidecar"):
        broker.attach("report", SUB, deliver, ConsumerSettings())
        await until(lambda: any(r.exc_info for r in sidecar_records(caplog)))
    [record] = sidecar_records(caplog)
    assert record.levelno == logging.ERROR and record.exc_info is not None
    await broker.aclose()


class _LosesCancel(SqliteStreams):
    """A client library that turns a cancel during a read into its own error, as some do;
    only the first, so that a failing test still ends (by its timeout)."""

    lost = 0

    async def read_new(self, group: str, pubsub: str, topic: str, count: int,
                       block: float) -> list[Entry]:
        try:
            return await super().read_new(group, pubsub, topic, count, block)
        except asyncio.CancelledError:
            if self.lost:
                raise
            self.lost += 1
            raise ConnectionError("connection closed while reading") from None


async def test_closing_ends_a_consumer_whose_cancel_was_lost() -> None:
    """The lost cancel left the reader looping, and the sidecar's stop waited forever."""
    broker, streams = Broker(poll=30.0), _LosesCancel()
    broker.route({"pubsub": streams})

    async def deliver(app_id: str, sub: Subscription, message: Message) -> Verdict:
        return Verdict.SUCCESS

    broker.attach("report", SUB, deliver, ConsumerSettings(concurrency=1))
    await asyncio.sleep(0.05)  # the reader is waiting in read_new
    async with asyncio.timeout(5):
        await broker.aclose()
    assert streams.lost == 1
