"""The deadline is hard and the caller's own: a server that trickles its headers or body cannot
hold a call past it, an open breaker fails fast even when every in-flight slot is taken, and a
deadline the caller chose short never counts against the dependency."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from kugel_common import (
    BreakerState,
    CircuitOpenError,
    ServiceUnavailableError,
)

from .server import RunningServer, make_pool

pytestmark = pytest.mark.both_transports

DRIP = 0.05  # seconds between the trickling server's bytes: far under every phase timeout


@contextlib.asynccontextmanager
async def trickling_server(part: str) -> AsyncIterator[str]:
    """A raw TCP server that answers any request one header line (``part="headers"``) or one
    body byte (``part="body"``) at a time, for up to 5 s."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await reader.readuntil(b"\r\n\r\n")
            if part == "headers":
                writer.write(b"HTTP/1.1 200 OK\r\n")
                drip = b"X-Drip: 1\r\n"
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                drip = b"x"
            for _ in range(int(5 / DRIP)):
                await writer.drain()
                await asyncio.sleep(DRIP)
                writer.write(drip)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


@pytest.mark.parametrize("part", ["headers", "body"])
async def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(part: str) -> None:
    async with trickling_server(part) as url:
        pool = make_pool(url, read_timeout=10.0)
        client = pool.client("svc")  # the pool's set-up (TLS context) is not the call's time
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError, match="deadline exceeded"):
            await client.get("/", timeout=1.0)
        elapsed = time.monotonic() - started
        await pool.aclose()
    assert 1.0 <= elapsed < 1.05


async def test_an_open_breaker_fails_fast_when_every_slot_is_taken(
    server: RunningServer,
) -> None:
    pool = make_pool(server.url, max_in_flight=1)
    client = pool.client("svc")
    holder = asyncio.create_task(client.get("/slow-ok", params={"delay": 1.0}))
    for _ in range(400):  # at most 2 s for the holder to reach the server
        if server.recorder.in_flight:
            break
        await asyncio.sleep(0.005)
    assert server.recorder.in_flight == 1
    await pool.isolate_breaker("svc")  # e.g. opened by other callers' failures
    started = time.perf_counter()
    with pytest.raises(CircuitOpenError):
        await client.get("/ok")
    assert time.perf_counter() - started < 0.005
    holder.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await holder
    await pool.aclose()


async def test_a_callers_short_deadline_leaves_the_breaker_closed(server: RunningServer) -> None:
    pool = make_pool(server.url, breaker_failure_threshold=2)
    client = pool.client("svc")
    for _ in range(4):
        with pytest.raises(ServiceUnavailableError, match=r"deadline exceeded|Timeout"):
            await client.get("/slow-ok", params={"delay": 0.5}, timeout=0.1)
    assert pool.breaker_state("svc") is BreakerState.CLOSED
    assert await client.get("/ok") == {"ok": True}
    await pool.aclose()


async def test_the_configured_read_timeout_still_counts(server: RunningServer) -> None:
    pool = make_pool(server.url, breaker_failure_threshold=2, read_timeout=0.1, attempts=1)
    client = pool.client("svc")
    for _ in range(2):
        with pytest.raises(ServiceUnavailableError):
            await client.get("/slow-ok", params={"delay": 0.5})
    assert pool.breaker_state("svc") is BreakerState.OPEN
    await pool.aclose()
