"""The outbox against the in-process sidecar: outages, poison events, parking, commits whose
outcome is unknown, a relay that fails and restarts, and two relays on one file."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from kugel_common import (
    BreakerState,
    ComponentNotFoundError,
    DaprUnavailableError,
    InvalidRequestError,
    OutboxError,
    ServiceClientPool,
    set_testing,
)
from kugel_common.dapr import (
    DaprClientHelper,
    Outbox,
    OutboxEvent,
    OutboxMessage,
    OutboxStatus,
    SqliteOutboxStore,
    StateOperation,
)
from kugel_common.dapr.sidecar._events import Published
from kugel_common.testing import FakeClock

from .sidecar import Switchable


class Poisoned(httpx.AsyncBaseTransport):
    """The sidecar, except that the broker refuses events marked poison with daprd's 500."""

    def __init__(self, inner: Switchable) -> None:
        self.inner = inner
        self.poison_attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "/publish/" in request.url.path and b"poison" in request.content:
            self.poison_attempts += 1
            return httpx.Response(500, json={"errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE",
                                             "message": "message too large"})
        return await self.inner.handle_async_request(request)


class LostReply:
    """A client whose transaction commits but whose reply is lost (a crash, a timeout)."""

    def __init__(self, dapr: DaprClientHelper) -> None:
        self._dapr = dapr

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dapr, name)

    async def execute_state_transaction(self, store: str,
                                        operations: Sequence[StateOperation]) -> None:
        await self._dapr.execute_state_transaction(store, operations)
        raise DaprUnavailableError("reply lost", service="dapr:statestore")


async def test_an_outage_is_waited_out_in_order(
    dapr: DaprClientHelper, sidecar: Switchable, clock: FakeClock, published: list[Published],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kugel_common.dapr.outbox")
    sidecar.down = True
    with set_testing(True):
        async with Outbox(dapr, clock=clock) as outbox:
            ids = [await outbox.publish("pubsub", "sales", {"n": n}) for n in range(30)]
            while dapr.breaker_state("pubsub") is not BreakerState.OPEN:
                await clock.sleep(0)
            record = await outbox.status(ids[0])
            assert record is not None and record.status is OutboxStatus.PENDING
            assert record.attempts >= 1
            assert (record.last_error or "").startswith(("DaprUnavailableError",
                                                         "DaprCircuitOpenError"))
            sidecar.down = False
            await outbox.drain(timeout=5)
            counts = await outbox.counts()
    assert counts[OutboxStatus.DELIVERED] == 30 and counts[OutboxStatus.PARKED] == 0
    assert [p.body["id"] for p in published] == ids  # in order, each with its own id
    said = [(r.levelname, r.getMessage().split(";")[0]) for r in caplog.records
            if r.name == "kugel_common.dapr.outbox" and r.levelno >= logging.INFO]
    assert said[0] == ("WARNING", "outbox: sidecar unavailable")  # once, however many retries
    assert said[1:] == [("INFO", said[1][1])] and said[1][1].startswith(
        "outbox: sidecar available again after ")


async def test_a_refused_event_is_parked_and_an_operator_requeues_or_drops_it(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published]
) -> None:
    async with Outbox(dapr, clock=clock) as outbox:
        bad = await outbox.publish("no-such-pubsub", "t", {})
        good = await outbox.publish("pubsub", "t", {})
        await outbox.drain(timeout=5)
        parked = await outbox.records(OutboxStatus.PARKED)
        assert [r.event_id for r in parked] == [bad]
        assert "ComponentNotFoundError" in (parked[0].last_error or "")
        assert [p.body["id"] for p in published] == [good]
        assert await outbox.requeue(bad) == 1  # still refused: parked again, never lost
        await outbox.drain(timeout=5)
        assert (await outbox.status(bad)).status is OutboxStatus.PARKED  # type: ignore[union-attr]
        assert await outbox.drop(bad) is True
        assert await outbox.status(bad) is None
        assert await outbox.drop(good) is False  # only parked events can be dropped


async def test_a_poison_event_is_parked_and_never_blocks_the_good_ones(
    sidecar: Switchable, clock: FakeClock, published: list[Published]
) -> None:
    poisoned = Poisoned(sidecar)
    pool = ServiceClientPool(clock=clock, transport=lambda _n, _s: poisoned)
    dapr = DaprClientHelper(pool, environ={})
    with set_testing(True):
        async with Outbox(dapr, clock=clock, max_strikes=3) as outbox:
            ids = []
            for n in range(100):
                ids.append(await outbox.publish("pubsub", "t", {"n": n}))
                if n == 10:
                    poison = await outbox.publish("pubsub", "t", {"poison": True})
            while (await outbox.counts())[OutboxStatus.PARKED] == 0:
                await outbox.publish("pubsub", "t", {"more": True})  # traffic gets through
                await clock.sleep(1)
            await outbox.drain(timeout=5)
            record = await outbox.status(poison)
    await pool.aclose()
    assert record is not None and record.status is OutboxStatus.PARKED
    assert poisoned.poison_attempts == 3
    delivered = [p.body["id"] for p in published]
    assert [i for i in delivered if i in ids] == ids  # every good one, in order
    assert len(delivered) == len(set(delivered))  # each once


async def test_an_outage_never_parks_an_event(
    sidecar: Switchable, clock: FakeClock, published: list[Published]
) -> None:
    """A broker that is down refuses every event with a 500: none is the event's fault."""
    broker_down = Poisoned(sidecar)
    pool = ServiceClientPool(clock=clock, transport=lambda _n, _s: broker_down)
    dapr = DaprClientHelper(pool, environ={})
    with set_testing(True):
        async with Outbox(dapr, clock=clock, max_strikes=2) as outbox:
            for n in range(20):
                await outbox.publish("pubsub", "t", {"poison": n})  # the outage: all refused
            while broker_down.poison_attempts < 200:
                await clock.sleep(1)
            counts = await outbox.counts()
    await pool.aclose()
    assert counts[OutboxStatus.PARKED] == 0 and counts[OutboxStatus.PENDING] == 20


async def test_a_commit_publishes_only_what_committed(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published]
) -> None:
    async with Outbox(dapr, clock=clock) as outbox:
        [sold] = await outbox.commit("statestore", [StateOperation.upsert("sale:1", {"n": 1})],
                                     [OutboxMessage("pubsub", "sales", {"n": 1})])
        with pytest.raises(ComponentNotFoundError):  # refused before touching any store
            await outbox.commit("no-such-store", [StateOperation.upsert("sale:2", {})],
                                [OutboxMessage("pubsub", "sales", {"n": 2}, event_id="two")])
        await outbox.drain(timeout=5)
        assert await outbox.status("two") is None
    assert await dapr.get_state("statestore", "sale:1") == {"n": 1}
    assert [p.body["id"] for p in published] == [sold]


NOT_JSON = "Out of range float values are not JSON compliant"


@pytest.mark.parametrize(("value", "data", "said"), [
    (float("nan"), {}, f"dapr:statestore: the state operations cannot be encoded as JSON: "
                       f"{NOT_JSON}"),
    ({1, 2}, {}, "dapr:statestore: the state operations cannot be encoded as JSON: Object of "
                 "type set is not JSON serializable"),
    (1, {"x": float("inf")}, f"dapr:pubsub: the data of event e cannot be encoded as JSON: "
                             f"{NOT_JSON}"),
])
async def test_a_commit_json_cannot_encode_is_refused_before_anything_is_recorded(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published], value: Any,
    data: Any, said: str,
) -> None:
    async with Outbox(dapr, clock=clock) as outbox:
        with pytest.raises(InvalidRequestError) as refused:
            await outbox.commit("statestore", [StateOperation.upsert("sale:1", {"v": value})],
                                [OutboxMessage("pubsub", "sales", data, event_id="e")])
        assert str(refused.value) == said
        assert set((await outbox.counts()).values()) == {0}  # nothing held for 60 s
    assert await dapr.get_state("statestore", "sale:1") is None and published == []


@pytest.mark.parametrize(("through", "what"), [("outbox", "the data of event nan-1"),
                                                ("client", "the event's data")])
async def test_an_event_that_is_not_json_is_refused_at_publish(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published], through: str,
    what: str,
) -> None:
    async with Outbox(dapr, clock=clock) as outbox:
        publish = outbox.publish if through == "outbox" else dapr.publish_event
        with pytest.raises(InvalidRequestError) as refused:
            await publish("pubsub", "sales", {"amount": float("nan")}, event_id="nan-1")
        assert str(refused.value) == f"dapr:pubsub: {what} cannot be encoded as JSON: {NOT_JSON}"
        assert set((await outbox.counts()).values()) == {0}  # nothing stored
    assert published == []


async def test_a_recorded_event_that_is_not_json_is_parked_not_sent(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published]
) -> None:
    store = SqliteOutboxStore()
    await store.add([OutboxEvent(0, "nan", "pubsub", "t", {"x": float("nan")}),  # older kugel
                     OutboxEvent(0, "good", "pubsub", "t", {"x": 1})])
    async with Outbox(dapr, store, clock=clock) as outbox:
        await outbox.drain(timeout=5)
        parked = await outbox.status("nan")
    assert parked is not None and parked.status is OutboxStatus.PARKED
    assert parked.last_error == (f"InvalidRequestError: dapr:pubsub: the event's data cannot "
                                 f"be encoded as JSON: {NOT_JSON}")
    assert [p.body["id"] for p in published] == ["good"]


async def test_a_commit_whose_reply_was_lost_is_settled_by_its_marker(
    dapr: DaprClientHelper, sidecar: Switchable, clock: FakeClock, published: list[Published]
) -> None:
    outbox = Outbox(LostReply(dapr), clock=clock, hold_timeout=0)  # type: ignore[arg-type]
    with pytest.raises(DaprUnavailableError):  # committed, but the caller cannot know
        await outbox.commit("statestore", [StateOperation.upsert("sale:1", {})],
                            [OutboxMessage("pubsub", "sales", {}, event_id="committed")])
    assert (await outbox.status("committed")).status is OutboxStatus.HELD  # type: ignore[union-attr]
    sidecar.down = True
    with pytest.raises(DaprUnavailableError):  # never reached the store
        await outbox.commit("statestore", [StateOperation.upsert("sale:2", {})],
                            [OutboxMessage("pubsub", "sales", {}, event_id="never")])
    sidecar.down = False
    await dapr.pool.reset_breaker("dapr:statestore")
    async with outbox:
        await outbox.drain(timeout=5)
        assert await outbox.status("never") is None
    assert [p.body["id"] for p in published] == ["committed"]


async def test_a_retried_request_re_drives_a_held_event(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published]
) -> None:
    outbox = Outbox(LostReply(dapr), clock=clock)  # type: ignore[arg-type]
    with pytest.raises(DaprUnavailableError):
        await outbox.commit("statestore", [StateOperation.upsert("sale:1", {})],
                            [OutboxMessage("pubsub", "sales", {"n": 1}, event_id="sale-1")])
    # The client retries; the service reads sale:1, sees it committed, and publishes again.
    await outbox.publish("pubsub", "sales", {"n": 1}, event_id="sale-1")
    async with outbox:
        await outbox.drain(timeout=5)
    assert [p.body["id"] for p in published] == ["sale-1"]


class FlakyStore(SqliteOutboxStore):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def page(self, after: int, limit: int) -> list[OutboxEvent]:
        if self.failures:
            self.failures -= 1
            raise OutboxError("outbox :memory:: disk I/O error", path=":memory:",
                              reason="disk I/O error")
        return await super().page(after, limit)


async def test_the_relay_restarts_after_any_error_and_says_so(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, "kugel_common.dapr.outbox"):
        async with Outbox(dapr, FlakyStore(failures=3), clock=clock) as outbox:
            event_id = await outbox.publish("pubsub", "t", {})
            await outbox.drain(timeout=5)
            health = outbox.health()
    assert [p.body["id"] for p in published] == [event_id]
    assert (health.state, health.restarts) == ("running", 3)
    assert "disk I/O error" in (health.last_error or "")
    assert sum("restarting in" in r.getMessage() for r in caplog.records) == 3


async def test_a_relay_that_cannot_recover_is_dead(
    dapr: DaprClientHelper, clock: FakeClock
) -> None:
    async with Outbox(dapr, FlakyStore(failures=10**6), clock=clock, dead_after=60) as outbox:
        async with asyncio.timeout(5):
            while outbox.health().state != "dead":  # noqa: ASYNC110 (polls a state)
                await asyncio.sleep(0.01)
        assert not outbox.health().alive
        snapshot = await outbox.snapshot()
    assert snapshot["relay"] == "dead" and snapshot["restarts"] > 1


async def test_two_relays_on_one_file_publish_each_event_once(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published], tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite3"
    # 200 fsync'd writes contend for one file: on a loaded machine the default 5 s lock wait
    # was seen to run out (an OutboxError, as designed); this test is about exactly-once
    first = Outbox(dapr, SqliteOutboxStore(path, lock_timeout=60), clock=clock,
                   poll_interval=0.02)
    second = Outbox(dapr, SqliteOutboxStore(path, lock_timeout=60), clock=clock,
                    poll_interval=0.02)
    async with first, second:
        ids = await asyncio.gather(*(box.publish("pubsub", "t", {"n": n})
                                     for n in range(100) for box in (first, second)))
        await first.drain(timeout=10)
        states = {first.health().state, second.health().state}
    assert states == {"running", "standby"}
    assert Counter(p.body["id"] for p in published) == Counter(set(ids))


async def test_events_survive_a_restart(
    dapr: DaprClientHelper, published: list[Published], tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite3"
    first = Outbox(dapr, path)  # never started: the process "crashed" before relaying
    event_id = await first.publish("pubsub", "t", {"n": 1})
    first._store.close()
    async with Outbox(dapr, path) as second:
        await second.drain(timeout=5)
    assert [p.body["id"] for p in published] == [event_id]
