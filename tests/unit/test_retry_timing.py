"""Backoff, Retry-After, deadline and budget: all on the injected clock, nothing really sleeps."""

from __future__ import annotations

import email.utils
import random
import time

import httpx
import pytest
from pytest_httpx import HTTPXMock

from kugel_common import ClientSettings, ServiceClientPool, ServiceUnavailableError, set_testing
from kugel_common._budget import RetryBudget
from kugel_common._retry_policy import RetryPolicy
from kugel_common.testing import FakeClock

URL = "http://svc.test/api/thing"


def test_backoff_is_full_jitter_capped() -> None:
    policy = RetryPolicy(backoff_initial=0.1, backoff_max=0.5)
    rng = random.Random(1)
    for retry in range(1, 8):
        cap = min(0.5, 0.1 * 2 ** (retry - 1))
        samples = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.8  # jitter spans the whole range
        assert min(samples) < cap * 0.2


async def test_no_sleep_after_last_attempt(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, clock: FakeClock
) -> None:
    for _ in range(3):
        httpx_mock.add_response(url=URL, status_code=503)
    with pytest.raises(ServiceUnavailableError):
        await pool.client("svc").get("/thing")
    assert len(clock.sleeps) == 2  # between attempts only


@pytest.mark.parametrize("header", ["3", "date"])
async def test_retry_after_is_honoured(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, clock: FakeClock, header: str
) -> None:
    value = header if header != "date" else email.utils.formatdate(time.time() + 3, usegmt=True)
    httpx_mock.add_response(url=URL, status_code=503, headers={"Retry-After": value})
    httpx_mock.add_response(url=URL, json=[1])
    assert await pool.client("svc").get("/thing") == [1]
    assert len(clock.sleeps) == 1
    assert 1.5 <= clock.sleeps[0] <= 3.0


async def test_retry_after_beyond_deadline_fails_at_once(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, clock: FakeClock
) -> None:
    httpx_mock.add_response(url=URL, status_code=429, headers={"Retry-After": "120"})
    with pytest.raises(ServiceUnavailableError) as info:
        await pool.client("svc").get("/thing", timeout=5)
    assert info.value.status_code == 429
    assert clock.sleeps == []
    assert len(httpx_mock.get_requests()) == 1


async def test_deadline_spans_all_attempts(httpx_mock: HTTPXMock, clock: FakeClock) -> None:
    from kugel_common import ServiceRegistry

    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test/api")
    settings = ClientSettings(attempts=10, backoff_initial=1.0, backoff_max=1.0, deadline=2.5)
    pool = ServiceClientPool(registry=registry, settings=settings, clock=clock,
                             rng=random.Random(3))
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=URL, is_reusable=True)
    with pytest.raises(ServiceUnavailableError):
        await pool.client("svc").get("/thing")
    await pool.aclose()
    assert sum(clock.sleeps) <= 2.5 - settings.min_attempt_time
    assert len(httpx_mock.get_requests()) < 10


async def test_testing_mode_makes_backoff_instant_and_restores(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, clock: FakeClock
) -> None:
    httpx_mock.add_response(url=URL, status_code=503)
    httpx_mock.add_response(url=URL, status_code=503)
    with set_testing(True, attempts=2):
        with pytest.raises(ServiceUnavailableError):
            await pool.client("svc").get("/thing")
        assert clock.sleeps == [0.0]
    assert RetryPolicy(attempts=3).max_attempts() == 3


def test_budget_caps_retries_at_ratio_plus_floor() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, min_per_second=0.0, window=10.0, clock=clock)
    for _ in range(100):
        budget.record_request()
    granted = sum(budget.try_spend() for _ in range(100))
    assert granted == 20
    clock.advance(11)  # the window slides: the old requests no longer pay for retries
    assert not budget.try_spend()


async def test_budget_denies_retries_of_a_dead_dependency(
    httpx_mock: HTTPXMock, clock: FakeClock
) -> None:
    from kugel_common import ServiceRegistry

    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test/api")
    settings = ClientSettings(retry_budget_min_per_second=0.1, breaker_failure_threshold=10_000,
                              breaker_min_calls=10_000)
    pool = ServiceClientPool(registry=registry, settings=settings, clock=clock)
    httpx_mock.add_response(url=URL, status_code=503, is_reusable=True)
    for _ in range(100):
        with pytest.raises(ServiceUnavailableError):
            await pool.client("svc").get("/thing")
    sent = len(httpx_mock.get_requests())
    snapshot = pool.metrics_snapshot()["svc"]["endpoints"]["/thing"]
    await pool.aclose()
    assert sent <= 100 * (1 + settings.retry_budget_ratio) + 1 + 1  # plus the floor; not 300
    assert snapshot["budget_denials"] > 0
