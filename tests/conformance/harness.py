"""The sidecar under test: the local one in-process, or a real daprd at KUGEL_CONFORMANCE_URL."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import yaml

from kugel_common._cli import main
from kugel_common.dapr.sidecar import Component, SidecarApp, load_components
from kugel_common.dapr.sidecar._backends import StateBackend, open_state_stores
from kugel_common.dapr.sidecar._events import BrokerUnavailable, Published
from kugel_common.dapr.sidecar._state import StateStore, Store
from kugel_common.testing import FakeClock

from ..redis_server import RedisServer, on_redis

TOKEN = os.environ.get("DAPR_API_TOKEN", "conformance-token")
EXTERNAL = os.environ.get("KUGEL_CONFORMANCE_URL")
COMPONENTS = load_components([Path(__file__).parent / "components"])


class Broker(list[Published]):
    """What the local sidecar handed to its broker; ``down`` refuses every publish."""

    down = False

    async def __call__(self, event: Published) -> None:
        if self.down:
            raise BrokerUnavailable("the broker is down")
        self.append(event)


class Sidecar:
    def __init__(self, client: httpx.AsyncClient, app: SidecarApp | None = None,
                 broker: Broker | None = None, clock: FakeClock | None = None,
                 redis: aioredis.Redis | None = None) -> None:
        self.client = client
        self._app, self._broker, self._clock = app, broker, clock
        self._redis = redis
        self.run = uuid.uuid4().hex[:8]  # keys unique per run: a real store keeps old ones

    @property
    def local(self) -> bool:
        return self._app is not None

    @property
    def published(self) -> Broker:
        if self._broker is None:
            pytest.skip("needs the local sidecar: it looks at what the sidecar published")
        return self._broker

    @property
    def app(self) -> SidecarApp:
        if self._app is None:
            pytest.skip("needs the local sidecar: it looks inside its stores")
        return self._app

    @property
    def clock(self) -> FakeClock:
        if self._clock is None:
            pytest.skip("needs the local sidecar's clock")
        return self._clock

    @property
    def redis(self) -> aioredis.Redis:
        """The Redis behind the state.redis stores, when the Redis backend runs."""
        if self._redis is None:
            pytest.skip("needs the local sidecar on the Redis backend")
        return self._redis

    async def advance(self, seconds: float) -> None:
        """Time passes for the sidecar. Redis keeps real time, so there each key's remaining
        time to live is cut by ``seconds`` instead (a key with less left is gone)."""
        self.clock.advance(seconds)
        if self._redis is None:
            return
        async for key in self._redis.scan_iter(count=1000):
            left = await self._redis.pttl(key)
            if left > seconds * 1000:
                await self._redis.pexpire(key, left - round(seconds * 1000))
            elif left >= 0:  # -1: no TTL; -2: gone already
                await self._redis.delete(key)

    def key(self, name: str) -> str:
        return f"{self.run}-{name}"

    async def expect(self, method: str, path: str, status: int, code: str | None = None,
                     **kwargs: Any) -> httpx.Response:
        headers = {"dapr-api-token": TOKEN, **kwargs.pop("headers", {})}
        response = await self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == status, response.text
        if status == 204:  # daprd's success without a body
            assert response.content == b""
        if code is not None:
            assert response.json()["errorCode"] == code
        return response


def build(components: list[Component], clock: FakeClock,
          stores: Mapping[str, Store] | None = None) -> tuple[SidecarApp, Broker]:
    """An app on ``stores``, or on embedded ones."""
    broker = Broker()
    if stores is None:
        stores = {c.name: StateStore.of(c, clock.now) for c in components if c.kind == "state"}
    app = SidecarApp("app-a", components, dict(stores), broker, api_token=TOKEN,
                     clock=clock.now)
    return app, broker


@contextlib.asynccontextmanager
async def local_sidecar(server: RedisServer | None = None) -> AsyncIterator[Sidecar]:
    """The local sidecar in-process, its state.redis stores on ``server`` (emptied first)
    when one is given, else embedded."""
    clock, components, redis = FakeClock(), COMPONENTS, None
    if server is not None:
        components = on_redis(COMPONENTS, server.host)
        redis = aioredis.Redis(port=server.port)
        await redis.flushall()
    backend = StateBackend.EMBEDDED if server is None else StateBackend.REDIS
    stores = await open_state_stores(components, backend, clock.now, lambda _: ":memory:")
    app, broker = build(components, clock, stores)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app.asgi),
                                     base_url="http://sidecar") as client:
            yield Sidecar(client, app, broker, clock, redis)
    finally:
        for store in stores.values():
            await store.aclose()
        if redis is not None:
            await redis.aclose()


def run_cli_on(folder: Path, component_type: str, metadata: Mapping[str, str]) -> int:
    """``kugel sidecar`` (one app, embedded) on a file of one component ``store`` of that
    type and metadata, written to ``folder``: its exit status."""
    document = {"apiVersion": "dapr.io/v1alpha1", "kind": "Component",
                "metadata": {"name": "store"},
                "spec": {"type": component_type, "metadata": [
                    {"name": name, "value": value} for name, value in metadata.items()]}}
    (folder / "c.yaml").write_text(yaml.safe_dump(document))
    return main(["sidecar", "--app-id", "a", "--dapr-http-port", "0", "--in-memory",
                 "--state-backend", "embedded", "--resources-path", str(folder)])
