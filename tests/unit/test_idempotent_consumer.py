"""The idempotent consumer on state.redis's rules: the effect and its record are one write."""

from __future__ import annotations

import asyncio

import pytest

from kugel_common import BreakerState, DaprUnavailableError
from kugel_common.dapr import DaprClientHelper, IdempotentConsumer
from kugel_common.testing import FakeClock

from .sidecar import Switchable

DAY = 24 * 3600


def add(n: int):  # type: ignore[no-untyped-def]
    return lambda total: (total or 0) + n


async def test_each_event_is_applied_once(dapr: DaprClientHelper) -> None:
    consumer = IdempotentConsumer(dapr, "statestore")
    assert await consumer.apply("e1", "total", add(5)) is True
    assert await consumer.apply("e1", "total", add(5)) is False  # a redelivery
    assert await consumer.apply("e2", "total", add(2)) is True
    assert await consumer.read("total") == 7
    assert await consumer.read("missing") is None


async def test_a_failed_effect_writes_nothing_and_the_redelivery_applies_it(
    dapr: DaprClientHelper,
) -> None:
    consumer = IdempotentConsumer(dapr, "statestore")
    await consumer.apply("e1", "total", add(1))

    def broken(total: object) -> object:
        raise RuntimeError("bug in the handler")

    with pytest.raises(RuntimeError):
        await consumer.apply("e2", "total", broken)
    assert await consumer.apply("e2", "total", add(10)) is True  # not taken for a duplicate
    assert await consumer.read("total") == 11


async def test_racing_deliveries_apply_once_and_racing_events_all_apply(
    dapr: DaprClientHelper,
) -> None:
    """A fresh key makes the racers first-write it: on state.redis the losers get a plain 500,
    which must read as a lost race, not as a sick store."""
    consumer = IdempotentConsumer(dapr, "statestore")
    same = await asyncio.gather(*(consumer.apply("dup", "a", add(1)) for _ in range(20)))
    assert same.count(True) == 1
    assert await consumer.read("a") == 1
    many = await asyncio.gather(*(consumer.apply(f"e{n}", "b", add(1)) for n in range(20)))
    assert all(many)
    assert await consumer.read("b") == 20
    assert dapr.breaker_state("statestore") is BreakerState.CLOSED


async def test_an_unreachable_sidecar_raises_and_is_never_taken_for_a_duplicate(
    dapr: DaprClientHelper, sidecar: Switchable,
) -> None:
    consumer = IdempotentConsumer(dapr, "statestore")
    sidecar.down = True
    with pytest.raises(DaprUnavailableError):
        await consumer.apply("e1", "total", add(1))
    sidecar.down = False
    assert await consumer.apply("e1", "total", add(1)) is True


async def test_ids_are_remembered_a_week(
    dapr: DaprClientHelper, clock: FakeClock,
) -> None:
    consumer = IdempotentConsumer(dapr, "statestore", now=clock.now)
    await consumer.apply("e1", "total", add(1))
    clock.advance(6 * DAY)
    assert await consumer.apply("e1", "total", add(1)) is False
    clock.advance(2 * DAY)
    await consumer.apply("e2", "total", add(1))  # a write forgets ids older than a week
    assert await consumer.apply("e1", "total", add(1)) is True
