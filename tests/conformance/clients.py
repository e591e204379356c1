"""What the official SDKs run against: the local sidecar on real loopback ports, on an event
loop of its own thread, with the apps it serves.

The SDKs block: the Python SDK polls ``healthz/outbound`` with urllib in every client's
constructor, and a Node process runs apart. A sidecar on the test's own loop would be frozen by
those waits, so it runs here until the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar

from ..integration.server import serve_here

__all__ = ["COMPONENTS", "RESILIENCY", "TOKEN", "echo_app", "sidecar_in_thread"]

TOKEN = "sdk-token"
# pubsub.redis redelivers a failed event once it has been pending `processingTimeout`, checked
# every `redeliverInterval`: both short, so that a RETRY comes back within the test.
_FAST_REDELIVERY = {"processingTimeout": "200ms", "redeliverInterval": "50ms"}
COMPONENTS = [
    Component("statestore", "state.redis"),
    Component("pubsub", "pubsub.redis", metadata=_FAST_REDELIVERY),
    Component("narrow-pubsub", "pubsub.redis", metadata={"allowedTopics": "only-this"}),
    Component("plain-pubsub", "pubsub.redis"),  # no inbound policy: a failed event is not retried
]
# daprd 1.18 with pubsub.redis acks a failed delivery: only an inbound retry policy brings a
# RETRY back (docs/dapr.md). "pubsub" has a quick one, "plain-pubsub" none.
RESILIENCY = [("clients.py", {
    "apiVersion": "dapr.io/v1alpha1", "kind": "Resiliency", "metadata": {"name": "clients"},
    "spec": {"policies": {"retries": {"quick": {"policy": "constant", "duration": "20ms",
                                                "maxRetries": 3}}},
             "targets": {"components": {"pubsub": {"inbound": {"retry": "quick"}}}}}})]


def echo_app() -> FastAPI:
    """Answers every call with what arrived, so a client can check what the sidecar forwarded."""
    app = FastAPI()

    @app.api_route("/echo/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def echo(rest: str, request: Request) -> JSONResponse:
        return JSONResponse(
            {"method": request.method, "path": rest, "query": request.url.query,
             "body": (await request.body()).decode(),
             "contentType": request.headers.get("content-type"),
             "custom": request.headers.get("x-custom"),
             "caller": request.headers.get("dapr-caller-app-id"),
             "callee": request.headers.get("dapr-callee-app-id")},
            status_code=201 if request.method == "PUT" else 200, headers={"x-echo": "yes"})

    return app


@contextlib.contextmanager
def sidecar_in_thread(
    specs: Sequence[AppSpec],
    components: Sequence[Component],
    served: Mapping[str, Any] | None = None,
    *,
    timeout: float = 10.0,
    **options: Any,
) -> Iterator[LocalSidecar]:
    """Serve each app of ``served`` (app id to ASGI app) on 127.0.0.1, then a ``LocalSidecar``
    for ``specs`` and those apps; ``options`` go to ``LocalSidecar``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="local sidecar", daemon=True)
    thread.start()
    stack = contextlib.AsyncExitStack()

    async def start() -> LocalSidecar:
        apps = list(specs)
        for app_id, app in (served or {}).items():
            apps.append(AppSpec(app_id, app_url=await stack.enter_async_context(serve_here(app))))
        return await stack.enter_async_context(LocalSidecar(apps, components, **options))

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout)
    finally:
        asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()
