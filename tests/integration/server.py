"""A real uvicorn server on 127.0.0.1 with an ephemeral port, run in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from kugel_common import ClientSettings, Clock, ServiceClientPool, ServiceRegistry


@dataclass
class Recorder:
    """What the server saw: hits per route, client ports (one per TCP connection), headers."""

    hits: Counter[str] = field(default_factory=Counter)
    ports: set[int] = field(default_factory=set)
    done: Counter[str] = field(default_factory=Counter)
    fail_next: dict[str, list[int]] = field(default_factory=dict)
    in_flight: int = 0
    peak_in_flight: int = 0


def build_app(recorder: Recorder) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next):  # type: ignore[no-untyped-def]
        recorder.hits[request.url.path] += 1
        if request.client:
            recorder.ports.add(request.client.port)
        planned = recorder.fail_next.get(request.url.path)
        if planned:
            status = planned.pop(0)
            headers = {"Retry-After": "2"} if status in (429, 503) else {}
            return Response(status_code=status, headers=headers)
        return await call_next(request)

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/slow-ok")
    async def slow_ok(delay: float = 0.05) -> dict[str, bool]:
        recorder.in_flight += 1
        recorder.peak_in_flight = max(recorder.peak_in_flight, recorder.in_flight)
        try:
            await asyncio.sleep(delay)
        finally:
            recorder.in_flight -= 1
        return {"ok": True}

    @app.post("/sale")
    async def sale(delay: float = 0.0) -> dict[str, bool]:
        await asyncio.sleep(delay)
        recorder.done["sale"] += 1
        return {"written": True}

    @app.get("/whoami")
    async def whoami(request: Request, delay: float = 0.0) -> dict[str, str | None]:
        await asyncio.sleep(delay)
        return {"authorization": request.headers.get("authorization")}

    @app.api_route("/headers", methods=["GET", "POST"])
    async def headers(request: Request) -> dict[str, object]:
        return {"headers": request.headers.items()}

    @app.get("/raw/{rest:path}")
    async def raw(request: Request) -> dict[str, str]:
        return {"path": request.scope["raw_path"].decode()}

    @app.get("/set-cookie")
    async def set_cookie(response: Response) -> dict[str, bool]:
        response.set_cookie("session", "caller-a-secret")
        return {"ok": True}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, object]:
        return {"body": await request.json()}

    @app.get("/drip")
    async def drip(chunks: int, delay: float) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(chunks):
                await asyncio.sleep(delay)
                yield b"x" * 10

        return StreamingResponse(body())

    @app.get("/big")
    async def big(size: int) -> Response:
        return Response(content=b"x" * size, media_type="application/octet-stream")

    return app


@dataclass
class RunningServer:
    url: str
    recorder: Recorder


@contextlib.contextmanager
def serve() -> Iterator[RunningServer]:
    recorder = Recorder()
    config = uvicorn.Config(build_app(recorder), host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", recorder)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def refused_url() -> str:
    """A loopback URL on which nothing listens: the port was bound and released."""
    return f"http://127.0.0.1:{free_port()}"


@contextlib.asynccontextmanager
async def serve_here(app: Any, *, lifespan: str = "off") -> AsyncIterator[str]:
    """Serve an ASGI app from the running event loop on 127.0.0.1:<ephemeral>; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan=lifespan))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or task.done():
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_pool(url: str, clock: Clock | None = None, **settings: object) -> ServiceClientPool:
    """A pool that serves ``svc`` from ``url``, with these ``ClientSettings``."""
    registry = ServiceRegistry(environ={})
    registry.register("svc", url)
    return ServiceClientPool(
        registry=registry, settings=ClientSettings(**settings),  # type: ignore[arg-type]
        clock=clock,
    )
