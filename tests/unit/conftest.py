from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kugel_common import ServiceClientPool
from kugel_common.dapr import DaprClientHelper
from kugel_common.dapr.sidecar import Component, SidecarApp
from kugel_common.dapr.sidecar._events import Published
from kugel_common.dapr.sidecar._state import StateStore
from kugel_common.testing import FakeClock

from .sidecar import Switchable


@pytest.fixture(autouse=True)
def httpx_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-httpx mocks httpx's own transport, so unit tests pin it (docs/testing.md)."""
    monkeypatch.setenv("KUGEL_TRANSPORT", "httpcore")


# -- the in-process sidecar, on state.redis's rules, for the consumer and outbox tests --------

@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def published() -> list[Published]:
    return []


@pytest.fixture
def sidecar(clock: FakeClock, published: list[Published]) -> Switchable:
    store = Component("statestore", "state.redis")  # the stack's rules, not an ideal store's
    async def publish(event: Published) -> None:
        published.append(event)

    app = SidecarApp("app", [store, Component("pubsub", "pubsub.redis")],
                     {"statestore": StateStore.of(store, clock.now)}, publish,
                     clock=clock.now)
    return Switchable(app)


@pytest.fixture
async def dapr(sidecar: Switchable, clock: FakeClock) -> AsyncIterator[DaprClientHelper]:
    pool = ServiceClientPool(clock=clock, transport=lambda _n, _s: sidecar)
    yield DaprClientHelper(pool, environ={})
    await pool.aclose()
