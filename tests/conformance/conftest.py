from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ..redis_server import RedisServer
from .harness import EXTERNAL, Sidecar, local_sidecar


@pytest.fixture(params=["embedded", "redis"])
async def sidecar(request: pytest.FixtureRequest) -> AsyncIterator[Sidecar]:
    """Every test runs on the embedded state backend and on Redis, in daprd's layout."""
    if EXTERNAL:
        if request.param == "redis":
            pytest.skip("a real daprd keeps state in its own backend")
        async with httpx.AsyncClient(base_url=EXTERNAL) as client:
            yield Sidecar(client)
        return
    server = request.getfixturevalue("redis") if request.param == "redis" else None
    async with local_sidecar(server) as local:
        yield local


@pytest.fixture
async def redis_sidecar(redis: RedisServer) -> AsyncIterator[Sidecar]:
    """The local sidecar on the Redis backend only."""
    async with local_sidecar(redis) as local:
        yield local
