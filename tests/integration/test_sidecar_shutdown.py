"""Stopping the sidecar is bounded, as daprd's --dapr-graceful-shutdown-seconds bounds it: an
invocation of an app that never answers cannot hold the stop forever."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kugel_common.dapr.sidecar import AppSpec, LocalSidecar

from .server import serve_here


async def test_stop_waits_for_a_request_in_flight_only_the_graceful_time() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def stuck(request: Request) -> Response:
        entered.set()
        await release.wait()  # an app that never answers, until the test ends
        return Response(status_code=200)

    app = Starlette(routes=[Route("/stuck", stuck, methods=["POST"])])
    async with serve_here(app) as url:
        sidecar = LocalSidecar([AppSpec("app", app_url=url)], [], graceful_shutdown=1)
        await sidecar.start()
        async with httpx.AsyncClient(base_url=sidecar.url("app"), timeout=30) as http:
            call = asyncio.create_task(http.post("/v1.0/invoke/app/method/stuck"))
            await asyncio.wait_for(entered.wait(), 10)
            started = time.monotonic()
            await asyncio.wait_for(sidecar.stop(), 10)
            stopped_in = time.monotonic() - started
            release.set()
            outcome = (await asyncio.gather(call, return_exceptions=True))[0]
    assert 0.9 < stopped_in < 6, stopped_in
    assert isinstance(outcome, httpx.Response)
    assert outcome.status_code == 500  # cancelled before the app answered: the caller knows
