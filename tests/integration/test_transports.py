"""What reaches the wire, and what a broken connection means, on both transports.

The `transport` fixture (conftest.py) runs every integration test on aiohttp and on httpcore:
aiohttp is the default only because all of them pass on it (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kugel_common import (
    BreakerState,
    InvalidEndpointError,
    ServiceUnavailableError,
    path,
)
from kugel_common.testing import FakeClock

from .server import RunningServer, make_pool, refused_url

pytestmark = pytest.mark.both_transports


@pytest.fixture
async def dropping_server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """Reads a whole request, then closes the connection without answering."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        received.append(head + await reader.readexactly(length))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", received
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize(
    ("method", "sends"),
    [
        ("POST", 1),  # it may have been written: never resent
        ("GET", 3),  # idempotent: kugel retries, and only kugel (aiohttp's own resend is off)
    ],
)
async def test_request_dropped_after_sending(
    dropping_server: tuple[str, list[bytes]], method: str, sends: int
) -> None:
    url, received = dropping_server
    pool = make_pool(url, clock=FakeClock())
    with pytest.raises(ServiceUnavailableError):
        await pool.client("svc").request(method, "/sale", json={"total": "1.00"})
    await pool.aclose()
    assert len(received) == sends


async def test_refused_read_timeout_stream_and_limit(server: RunningServer) -> None:
    pool = make_pool(refused_url(), clock=FakeClock())
    with pytest.raises(ServiceUnavailableError):
        await pool.client("svc").get("/ok")
    await pool.aclose()

    pool = make_pool(server.url, clock=FakeClock(), read_timeout=0.2, max_response_bytes=1000)
    client = pool.client("svc")
    with pytest.raises(ServiceUnavailableError):
        await client.post("/sale", params={"delay": 0.5}, json={})
    async with client.stream("GET", "/big", params={"size": 50_000}) as response:
        assert sum([len(chunk) async for chunk in response.aiter_bytes()]) == 50_000
    with pytest.raises(Exception, match="max_response_bytes"):
        await client.get("/big", params={"size": 50_000})
    for _ in range(20):
        assert await client.get("/ok") == {"ok": True}
    await pool.aclose()
    assert server.recorder.hits["/sale"] == 1
    assert len(server.recorder.ports) <= 3  # the pool is reused: refused, timed out, reused one


async def test_wire_is_the_same_on_both_transports(server: RunningServer) -> None:
    pool = make_pool(server.url, clock=FakeClock())
    client = pool.client("svc")
    await client.get("/set-cookie")
    sent = dict((await client.get("/headers"))["headers"])
    assert "cookie" not in sent  # one caller's cookie never reaches the next caller
    (await pool.channel("svc")).client.cookies.set("session", "by-hand")  # kept nowhere, either
    assert "cookie" not in dict((await client.get("/headers"))["headers"])
    assert "content-type" not in sent  # no body, no Content-Type
    assert sent["user-agent"].startswith("kugel/")
    sent = dict((await client.post("/headers", json={"a": 1}))["headers"])
    assert sent["content-type"] == "application/json"
    # Quoted segments arrive as sent: never decoded or normalised on the way.
    for code in ("a/b", "...", "50% off"):
        reply = await client.get("/raw/{code}", path_params={"code": code})
        assert reply == {"path": path("raw", code)}
    # A dot segment, even encoded, or one that decoding the value's "/" would make, is refused
    # before it is sent: a server or proxy that decodes first would resolve it.
    for code in ("..", ".", "a/../b", "../.."):
        with pytest.raises(InvalidEndpointError):
            await client.get("/raw/{code}", path_params={"code": code})
    await pool.aclose()


async def test_connections_opened_matches_what_the_server_saw(server: RunningServer) -> None:
    pool = make_pool(server.url, clock=FakeClock())
    client = pool.client("svc")
    await asyncio.gather(*(client.get("/slow-ok", params={"delay": 0.1}) for _ in range(5)))
    for _ in range(10):
        await client.get("/ok")  # reused: no new connections
    opened = pool.metrics_snapshot()["svc"]["connections_opened"]
    await pool.aclose()
    assert opened == len(server.recorder.ports) == 5


async def test_every_component_behind_one_sidecar_shares_one_pool(server: RunningServer) -> None:
    from kugel_common.dapr import DaprClientHelper

    pool = make_pool(server.url, clock=FakeClock())
    dapr = DaprClientHelper(pool, sidecar_url=server.url, environ={})
    for component in ("statestore", "pubsub", "orders", "audit", "cache"):
        assert await dapr.client(component).get("/ok") == {"ok": True}
    assert len(server.recorder.ports) == 1  # one connection, reused by all five
    states = {dapr.breaker_state(c) for c in ("statestore", "pubsub", "orders")}
    assert states == {BreakerState.CLOSED}  # each component keeps a breaker of its own
    await pool.aclose()
