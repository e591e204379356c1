from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry
from kugel_common.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> ServiceRegistry:
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test/api")
    return registry


@pytest.fixture
def settings() -> ClientSettings:
    return ClientSettings()


@pytest.fixture
async def pool(
    registry: ServiceRegistry, settings: ClientSettings, clock: FakeClock
) -> AsyncIterator[ServiceClientPool]:
    pool = ServiceClientPool(registry=registry, settings=settings, clock=clock,
                             rng=random.Random(7))
    yield pool
    await pool.aclose()
