"""A sidecar transport that can be switched off, for the consumer and outbox tests."""

from __future__ import annotations

import httpx

from kugel_common.dapr.sidecar import SidecarApp


class Switchable(httpx.AsyncBaseTransport):
    """The sidecar, reachable or not."""

    def __init__(self, app: SidecarApp) -> None:
        self.inner = httpx.ASGITransport(app.asgi)
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused")
        return await self.inner.handle_async_request(request)
