from __future__ import annotations

import faulthandler
import random
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from types import FrameType

import pytest

from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry
from kugel_common.testing import FakeClock

from .backends import Backend
from .redis_server import RedisServer, redis_server

TEST_LIMIT = 180  # seconds: no test may hang the suite, whatever it waits for

NO_REDIS = ("redis-server is not on PATH, so state.redis and pubsub.redis run on the embedded "
            "backend only (apt-get install redis-server)")


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session; each sidecar on it empties it first."""
    if shutil.which("redis-server") is None:
        pytest.skip(NO_REDIS)
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["embedded", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """A test that takes it runs on the embedded backend and, when redis-server is on PATH,
    on the session's Redis, emptied first."""
    if request.param == "embedded":
        return Backend()
    server: RedisServer = request.getfixturevalue("redis")
    server.flush()
    return Backend(server)


class TestTookTooLong(Exception):
    pass


@pytest.fixture(autouse=True)
def time_limit() -> Iterator[None]:
    """Fail a test that runs past TEST_LIMIT, with every thread's stack, instead of hanging."""

    def expire(signum: int, frame: FrameType | None) -> None:
        faulthandler.dump_traceback(file=sys.stderr)
        raise TestTookTooLong(f"the test ran past {TEST_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


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
