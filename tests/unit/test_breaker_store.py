"""Breaker state shared through a BreakerStore: two pools stand for two replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from kugel_common import (
    BreakerSnapshot,
    BreakerState,
    CircuitOpenError,
    ClientSettings,
    ServiceClientPool,
    ServiceRegistry,
    ServiceUnavailableError,
)
from kugel_common.testing import FakeClock, InMemoryBreakerStore

Server = Callable[[httpx.Request], httpx.Response]


def replica(store: object, clock: FakeClock, server: Server) -> ServiceClientPool:
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test")
    return ServiceClientPool(
        registry=registry, clock=clock, breaker_store=store,  # type: ignore[arg-type]
        settings=ClientSettings(attempts=1, breaker_failure_threshold=2),
        transport=lambda _n, _s: httpx.MockTransport(server))


async def settle() -> None:
    """Let the breakers' background reads and writes run; the in-memory store never waits."""
    for _ in range(10):
        await asyncio.sleep(0)


def healthy(hits: list[str]) -> Server:
    def server(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        return httpx.Response(200, json={})
    return server


async def test_two_replicas_see_one_breaker_open(clock: FakeClock) -> None:
    store = InMemoryBreakerStore(clock)
    a = replica(store, clock, lambda _request: httpx.Response(503))
    b_hits: list[str] = []
    b = replica(store, clock, healthy(b_hits))
    await b.client("svc").get("/x")  # b starts with nothing shared yet
    for _ in range(2):
        with pytest.raises(ServiceUnavailableError):
            await a.client("svc").get("/x")
    assert a.breaker_state("svc") is BreakerState.OPEN
    await settle()  # a's change is written
    clock.advance(1.0)  # b reads the shared state at most once a second
    await b.client("svc").get("/x")  # the local decision goes first; the read runs behind it
    await settle()
    assert b.breaker_state("svc") is BreakerState.OPEN
    assert (await b.channel("svc")).breaker.retry_after() == pytest.approx(
        (await a.channel("svc")).breaker.retry_after())
    with pytest.raises(CircuitOpenError):
        await b.client("svc").get("/x")
    assert len(b_hits) == 2  # the refused call never reached b's instance
    clock.advance(13.0)  # past the reset timeout: b probes its own (healthy) instance
    await b.client("svc").get("/x")
    assert b.breaker_state("svc") is BreakerState.CLOSED
    await a.aclose()
    await b.aclose()


async def test_isolation_and_reset_reach_every_replica(clock: FakeClock) -> None:
    store = InMemoryBreakerStore(clock)
    hits: list[str] = []
    a, b = replica(store, clock, healthy(hits)), replica(store, clock, healthy(hits))
    await b.client("svc").get("/x")
    await a.isolate_breaker("svc")
    await settle()
    clock.advance(1.0)
    await b.client("svc").get("/x")
    await settle()
    assert b.breaker_state("svc") is BreakerState.ISOLATED
    assert await store.load("svc") == BreakerSnapshot(BreakerState.ISOLATED)
    await a.reset_breaker("svc")
    await settle()
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError):
        await b.client("svc").get("/x")  # still isolated locally; the read is under way
    await settle()
    assert b.breaker_state("svc") is BreakerState.CLOSED
    await b.client("svc").get("/x")
    await a.aclose()
    await b.aclose()


class BrokenStore:
    def __init__(self) -> None:
        self.calls = 0

    async def load(self, service: str) -> BreakerSnapshot | None:
        self.calls += 1
        raise ConnectionError("store down")

    async def save(self, service: str, snapshot: BreakerSnapshot) -> None:
        self.calls += 1
        raise ConnectionError("store down")


async def test_a_store_that_raises_never_breaks_a_call(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = BrokenStore()
    hits: list[str] = []
    pool = replica(store, clock, healthy(hits))
    for _ in range(3):
        await pool.client("svc").get("/x")
        await settle()
        clock.advance(1.0)
    await pool.isolate_breaker("svc")  # kept locally, though the store cannot save it
    await settle()
    with pytest.raises(CircuitOpenError):
        await pool.client("svc").get("/x")
    await pool.reset_breaker("svc")
    await pool.client("svc").get("/x")
    await settle()
    await pool.aclose()
    assert len(hits) == 4 and store.calls >= 4
    failures = [r.getMessage() for r in caplog.records if "breaker store failed" in r.getMessage()]
    assert any("failed to load" in m for m in failures)
    assert any("failed to save" in m for m in failures)


async def test_the_sidecar_breakers_of_a_replica_stay_its_own(clock: FakeClock) -> None:
    from kugel_common import ServiceAddress

    store = InMemoryBreakerStore(clock)
    pool = replica(store, clock, healthy([]))
    pool.add(ServiceAddress("dapr:statestore", ("http://127.0.0.1:3500",)))
    await pool.isolate_breaker("dapr:statestore")
    await pool.isolate_breaker("svc")
    await settle()
    assert await store.load("dapr:statestore") is None
    assert await store.load("svc") == BreakerSnapshot(BreakerState.ISOLATED)
    await pool.aclose()


class GarbageStore:
    async def load(self, service: str) -> object:
        return "open"  # not a BreakerSnapshot

    async def save(self, service: str, snapshot: BreakerSnapshot) -> None:
        return None


async def test_a_store_that_answers_garbage_is_logged_and_ignored(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    hits: list[str] = []
    pool = replica(GarbageStore(), clock, healthy(hits))
    for _ in range(3):
        await pool.client("svc").get("/x")
        await settle()
        clock.advance(1.0)
    assert len(hits) == 3 and pool.breaker_state("svc") is BreakerState.CLOSED
    await pool.aclose()
    assert any("not a BreakerSnapshot" in r.getMessage() for r in caplog.records)
