from __future__ import annotations

import random

import pytest
from pytest_httpx import HTTPXMock

from kugel_common import (
    BreakerState,
    CircuitOpenError,
    ClientSettings,
    HttpClientError,
    InvalidRequestError,
    ServiceClientPool,
    ServiceRegistry,
    ServiceUnavailableError,
)
from kugel_common._breaker import BreakerConfig, CircuitBreaker
from kugel_common.testing import FakeClock

URL = "http://svc.test/api/thing"


def make(clock: FakeClock, **config: float) -> tuple[CircuitBreaker, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        "svc",
        BreakerConfig(**config),  # type: ignore[arg-type]
        clock,
        on_change=lambda _s, old, new: changes.append((old.value, new.value)),
        rng=random.Random(0),
    )
    return breaker, changes


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        permit = breaker.try_acquire()
        assert permit is not None
        breaker.record(permit, False)


def succeed(breaker: CircuitBreaker) -> None:
    permit = breaker.try_acquire()
    assert permit is not None
    breaker.record(permit, True)


def test_opens_after_consecutive_failures() -> None:
    clock = FakeClock()
    breaker, changes = make(clock, failure_threshold=3)
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert breaker.try_acquire() is None
    assert changes == [("closed", "open")]


def test_success_resets_the_consecutive_count() -> None:
    breaker, _ = make(FakeClock(), failure_threshold=3, min_calls=1000)
    for _ in range(10):
        fail(breaker, 2)
        succeed(breaker)
    assert breaker.state is BreakerState.CLOSED


def test_with_enough_traffic_only_the_ratio_opens() -> None:
    breaker, _ = make(FakeClock(), failure_threshold=3, failure_ratio=0.5, min_calls=10)
    for _ in range(10):
        succeed(breaker)
    fail(breaker, 9)  # 9 in a row, but 9 of 19 is under half: a flaky dependency, not a dead one
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)  # 10 of 20
    assert breaker.state is BreakerState.OPEN


def test_failures_spread_over_a_day_do_not_open() -> None:
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=3, failure_ratio=0.5, min_calls=3, window=30)
    for _ in range(10):
        fail(breaker)
        succeed(breaker)  # a healthy service between rare failures
        clock.advance(3600)
    assert breaker.state is BreakerState.CLOSED


def test_opens_on_failure_ratio_over_window() -> None:
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=100, failure_ratio=0.5, min_calls=10, window=30)
    for _ in range(5):
        succeed(breaker)
        fail(breaker)
    assert breaker.state is BreakerState.OPEN


def test_half_open_admits_bounded_probes_and_closes_after_successes() -> None:
    clock = FakeClock()
    breaker, changes = make(clock, failure_threshold=1, reset_timeout=10, reset_jitter=0.2,
                            half_open_probes=1, success_threshold=2)
    fail(breaker)
    clock.advance(9.9)
    assert breaker.try_acquire() is None
    clock.advance(2.1)  # past timeout x (1 + jitter)
    probe = breaker.try_acquire()
    assert probe is not None and probe.probe
    assert breaker.try_acquire() is None  # one probe at a time
    breaker.record(probe, True)
    assert breaker.state is BreakerState.HALF_OPEN
    probe = breaker.try_acquire()
    assert probe is not None
    breaker.record(probe, True)
    assert breaker.state is BreakerState.CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def half_open() -> CircuitBreaker:
    """A breaker tripped by one failure whose 1 s reset timeout has just passed."""
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=1, reset_timeout=1, reset_jitter=0)
    fail(breaker)
    clock.advance(1)
    return breaker


def test_failed_probe_reopens() -> None:
    breaker = half_open()
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == pytest.approx(1.0)


def test_cancelled_probe_frees_its_slot() -> None:
    breaker = half_open()
    probe = breaker.try_acquire()
    assert probe is not None
    breaker.record(probe, None)
    assert breaker.try_acquire() is not None


def test_stale_outcomes_are_ignored() -> None:
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=1, reset_timeout=1, reset_jitter=0)
    slow = breaker.try_acquire()
    assert slow is not None
    fail(breaker)
    clock.advance(1)
    breaker.record(slow, True)  # admitted while closed; must not close the half-open breaker
    assert breaker.state is BreakerState.HALF_OPEN


def test_isolate_and_reset() -> None:
    breaker, changes = make(FakeClock())
    breaker.isolate()
    assert breaker.try_acquire() is None
    breaker.reset()
    assert breaker.try_acquire() is not None
    assert changes == [("closed", "isolated"), ("isolated", "closed")]


@pytest.fixture
async def strict_pool(clock: FakeClock) -> ServiceClientPool:
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test/api")
    return ServiceClientPool(
        registry=registry, clock=clock,
        settings=ClientSettings(attempts=1, breaker_failure_threshold=2),
    )


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_client_errors_do_not_trip(
    strict_pool: ServiceClientPool, httpx_mock: HTTPXMock, status: int
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, is_reusable=True)
    for _ in range(5):
        with pytest.raises(HttpClientError):
            await strict_pool.client("svc").get("/thing")
    assert strict_pool.breaker_state("svc") is BreakerState.CLOSED
    await strict_pool.aclose()


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_dependency_failures_trip_and_then_fail_fast(
    strict_pool: ServiceClientPool, httpx_mock: HTTPXMock, status: int
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, is_reusable=True)
    for _ in range(2):
        with pytest.raises(ServiceUnavailableError):
            await strict_pool.client("svc").get("/thing")
    with pytest.raises(CircuitOpenError) as info:
        await strict_pool.client("svc").get("/thing")
    assert info.value.retry_after > 0
    assert len(httpx_mock.get_requests()) == 2
    snapshot = strict_pool.metrics_snapshot()["svc"]
    assert snapshot["breaker"] == "open"
    assert snapshot["endpoints"]["/thing"]["breaker_rejections"] == 1
    await strict_pool.aclose()


async def test_caller_errors_do_not_trip(
    strict_pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    for _ in range(5):
        with pytest.raises(InvalidRequestError, match="not JSON serializable"):
            await strict_pool.client("svc").post("/thing", json={"bad": {1, 2}})
    assert strict_pool.breaker_state("svc") is BreakerState.CLOSED
    await strict_pool.aclose()


async def test_breaker_is_shared_by_every_context(
    strict_pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=503, is_reusable=True)
    for _ in range(2):
        async with strict_pool.client("svc") as client:  # a new context each time
            with pytest.raises(ServiceUnavailableError):
                await client.get("/thing")
    async with strict_pool.client("svc") as client:
        with pytest.raises(CircuitOpenError):
            await client.get("/thing")
    await strict_pool.aclose()


async def test_breaker_changes_reach_hooks_logs_and_metrics(
    clock: FakeClock, httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    from kugel_common import BreakerChange

    changes: list[BreakerChange] = []

    class Alerts:
        def on_breaker_change(self, details: BreakerChange) -> None:
            changes.append(details)

    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test/api")
    pool = ServiceClientPool(
        registry=registry, clock=clock,
        settings=ClientSettings(attempts=1, breaker_failure_threshold=2),
        hooks=[Alerts()],
    )
    httpx_mock.add_response(url=URL, status_code=502, is_reusable=True)
    for _ in range(4):
        with pytest.raises(ServiceUnavailableError):
            await pool.client("svc").get("/thing")
    assert changes == [BreakerChange("svc", BreakerState.CLOSED, BreakerState.OPEN)]
    assert pool.metrics_snapshot()["svc"]["breaker_transitions"] == {"open": 1}
    assert [r.getMessage() for r in caplog.records if r.name == "kugel_common.breaker"] == [
        "breaker svc: closed -> open"]  # logged once, not per rejected call
    await pool.aclose()
