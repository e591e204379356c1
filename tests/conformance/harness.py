"""The sidecar under test: the local one in-process, or a real daprd at KUGEL_CONFORMANCE_URL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from kugel_common.dapr.sidecar import Component, SidecarApp, load_components
from kugel_common.dapr.sidecar._events import BrokerUnavailable, Published
from kugel_common.dapr.sidecar._state import StateStore
from kugel_common.testing import FakeClock

TOKEN = os.environ.get("DAPR_API_TOKEN", "conformance-token")
EXTERNAL = os.environ.get("KUGEL_CONFORMANCE_URL")
COMPONENTS = load_components([Path(__file__).parent / "components"])


class Broker(list[Published]):
    """What the local sidecar handed to its broker; ``down`` refuses every publish."""

    down = False

    def __call__(self, event: Published) -> None:
        if self.down:
            raise BrokerUnavailable("the broker is down")
        self.append(event)


class Sidecar:
    def __init__(self, client: httpx.AsyncClient, app: SidecarApp | None = None,
                 broker: Broker | None = None, clock: FakeClock | None = None) -> None:
        self.client = client
        self._app, self._broker, self._clock = app, broker, clock
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


def build(components: list[Component], clock: FakeClock) -> tuple[SidecarApp, Broker]:
    broker = Broker()
    stores = {c.name: StateStore.of(c, clock.now) for c in components if c.kind == "state"}
    app = SidecarApp("app-a", components, stores, broker, api_token=TOKEN, clock=clock.now)
    return app, broker
