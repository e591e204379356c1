"""Two `kugel sidecar --app-id` processes on one data directory work together as two daprd on
one Redis: a shared store with `appid||key` keys, one consumer group per app id, and service
invocation resolved through the directory of app ids (real processes, 127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..backends import Backend
from .server import free_port, serve_here
from .test_cli import COMPONENT

PUBSUB = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.redis
  version: v1
  metadata:
    - name: redisHost
      value: redis:6379
---
"""


def app(seen: list[Any]) -> Starlette:
    async def subscribe(request: Request) -> JSONResponse:
        return JSONResponse([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}])

    async def orders(request: Request) -> JSONResponse:
        seen.append((await request.json())["data"])
        return JSONResponse({"status": "SUCCESS"})

    async def who(request: Request) -> JSONResponse:
        return JSONResponse({name: request.headers.get(name) for name in (
            "dapr-caller-app-id", "dapr-callee-app-id", "dapr-api-token")})

    return Starlette(routes=[Route("/dapr/subscribe", subscribe),
                             Route("/orders", orders, methods=["POST"]),
                             Route("/who", who, methods=["POST"])])


@contextlib.asynccontextmanager
async def sidecar(tmp_path: Path, app_id: str, app_url: str,
                  backend: Backend) -> AsyncIterator[str]:
    port = free_port()
    app_port = app_url.rsplit(":", 1)[1]
    # daprd's flags as docker-compose.yml passes them, single-dash form and ignored ones too.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kugel_common._cli", "sidecar", "-app-id", app_id,
        "--app-port", app_port, "--dapr-http-port", str(port), "--dapr-grpc-port", "50001",
        "--resources-path", str(tmp_path / "components"), "--config",
        str(tmp_path / "config.yaml"), "--data-dir", str(tmp_path / "data"),
        "--log-level", "warn", "--state-backend", backend.name,
        env={"PATH": "/usr/bin:/bin", "DAPR_HOST_IP": "127.0.0.1",
             "APP_API_TOKEN": f"token-of-{app_id}"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        # Awaited, never blocking the loop: the apps it may still be delivering to run on this
        # loop, and a blocked loop would hold the sidecar's shutdown until the timeout.
        async with asyncio.timeout(30):
            raw, _ = await process.communicate()
        output = raw.decode()
        assert process.returncode == 0, output
        assert "--dapr-grpc-port 50001 is ignored" in output


async def healthy(url: str, http: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 15
    while True:
        with contextlib.suppress(httpx.TransportError):
            if (await http.get(f"{url}/v1.0/healthz")).status_code == 204:
                return
        assert time.monotonic() < deadline, f"{url} did not start"
        await asyncio.sleep(0.05)


@pytest.fixture
async def two(tmp_path: Path,
              backend: Backend) -> AsyncIterator[tuple[str, str, dict[str, list[Any]]]]:
    (tmp_path / "components").mkdir()
    host = "redis:6379" if backend.server is None else backend.server.host
    (tmp_path / "components" / "components.yaml").write_text(
        (PUBSUB + COMPONENT).replace("redis:6379", host))
    (tmp_path / "config.yaml").write_text("kind: Configuration\n")
    seen: dict[str, list[Any]] = {"a": [], "b": []}
    async with serve_here(app(seen["a"])) as a_app, serve_here(app(seen["b"])) as b_app, \
            sidecar(tmp_path, "a", a_app, backend) as a, \
            sidecar(tmp_path, "b", b_app, backend) as b:
        async with httpx.AsyncClient(timeout=10) as http:
            await healthy(a, http)
            await healthy(b, http)
        yield a, b, seen


async def test_two_sidecar_processes_share_state_pubsub_and_invocation(
    two: tuple[str, str, dict[str, list[Any]]], tmp_path: Path, backend: Backend
) -> None:
    a, b, seen = two
    async with httpx.AsyncClient(timeout=10) as http:
        called = await http.post(f"{a}/v1.0/invoke/b/method/who",
                                 headers={"dapr-caller-app-id": "spoofed"})
        assert called.status_code == 200, called.text
        assert called.json() == {"dapr-caller-app-id": "a", "dapr-callee-app-id": "b",
                                 "dapr-api-token": "token-of-b"}
        back = await http.post(f"{b}/who", headers={"dapr-app-id": "a"})
        assert back.json()["dapr-caller-app-id"] == "b"
        nobody = await http.post(f"{a}/v1.0/invoke/c/method/who")
        assert (nobody.status_code, nobody.json()["errorCode"]) == (500, "ERR_DIRECT_INVOKE")

        for url, value in ((a, "from a"), (b, "from b")):
            saved = await http.post(f"{url}/v1.0/state/statestore",
                                    json=[{"key": "k", "value": value}])
            assert saved.status_code == 204
        assert (await http.get(f"{a}/v1.0/state/statestore/k")).json() == "from a"
        assert (await http.get(f"{b}/v1.0/state/statestore/k")).json() == "from b"

        published = await http.post(f"{a}/v1.0/publish/pubsub/orders", json={"n": 1})
        assert published.status_code == 204
        deadline = time.monotonic() + 10
        while not (seen["a"] and seen["b"]):  # each app id is its own consumer group
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.05)
    assert seen == {"a": [{"n": 1}], "b": [{"n": 1}]}
    assert stored_keys(tmp_path, backend) == ["a||k", "b||k"]  # one store, daprd's key layout


def stored_keys(tmp_path: Path, backend: Backend) -> list[str]:
    if backend.server is None:
        with sqlite3.connect(tmp_path / "data" / "state-statestore.sqlite3") as db:
            return sorted(row[0] for row in db.execute("SELECT key FROM state"))
    with redis.Redis(port=backend.server.port) as client:
        return sorted(key.decode() for key in client.keys("*||*"))
