from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kugel_common.testing import FakeClock

from .harness import COMPONENTS, EXTERNAL, Sidecar, build


@pytest.fixture
async def sidecar() -> AsyncIterator[Sidecar]:
    if EXTERNAL:
        async with httpx.AsyncClient(base_url=EXTERNAL) as client:
            yield Sidecar(client)
        return
    clock = FakeClock()
    app, broker = build(COMPONENTS, clock)
    transport = httpx.ASGITransport(app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as client:
        yield Sidecar(client, app, broker, clock)
