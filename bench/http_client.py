"""Client throughput on loopback, side by side in one run: `make bench`.

Variants, each at concurrency 1, 10 and 100:
  a  one shared httpx.AsyncClient with defaults
  b  kugel: `async with get_service_client(...)` per request
  c  a new httpx.AsyncClient per request (what the prior art does)
  d  one shared aiohttp.ClientSession
Rounds are interleaved (a b c d, a b c d, ...) and the median of each is reported, because
absolute numbers on a shared machine are noise; the ratios are the result.
A micro-benchmark on httpx.MockTransport then prints kugel's added cost per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
from _servers import free_port, start_process  # bench/ is the script's folder

import kugel_common
from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry

HERE = Path(__file__).resolve().parent
CONCURRENCY = (1, 10, 100)


def start_server(port: int) -> subprocess.Popen[bytes]:
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") and os.cpu_count() and os.cpu_count() >= 2 else []  # noqa: E501
    try:
        import granian  # noqa: F401

        command = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "1", "--log-level", "warning",
                   "server_app:app"]
    except ImportError:
        command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "warning", "server_app:app"]
    return start_process(pin + command, port)


Send = Callable[[], Awaitable[None]]


async def measure(send: Send, concurrency: int, total: int) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) for `total` requests at `concurrency`."""
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await send()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=120)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return total / elapsed, latencies[int(len(latencies) * 0.99) - 1] * 1000


async def run(url: str, rounds: int, total: int, settings: ClientSettings) -> dict[tuple[str, int], list[tuple[float, float]]]:  # noqa: E501
    registry = ServiceRegistry(environ={})
    registry.register("bench", url)
    pool = ServiceClientPool(registry=registry, settings=settings)
    with kugel_common.use_pool(pool):  # as an app does per request
        shared = httpx.AsyncClient()
        session = aiohttp.ClientSession()

        async def a() -> None:
            (await shared.get(url + "/")).raise_for_status()

        async def b() -> None:
            async with kugel_common.get_service_client("bench") as client:
                await client.get("/")

        async def c() -> None:
            async with httpx.AsyncClient() as fresh:
                (await fresh.get(url + "/")).raise_for_status()

        async def d() -> None:
            async with session.get(url + "/") as response:
                await response.read()
                response.raise_for_status()

        variants: dict[str, tuple[Send, int]] = {"a": (a, total), "b": (b, total),
                                                 "c": (c, max(20, total // 20)), "d": (d, total)}
        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for concurrency in CONCURRENCY:
            for send, count in variants.values():  # warm-up
                await measure(send, concurrency, min(count, 200))
            for _ in range(rounds):
                for name, (send, count) in variants.items():
                    results.setdefault((name, concurrency), []).append(
                        await measure(send, concurrency, count))
        await shared.aclose()
        await session.close()
    await pool.aclose()
    return results


async def overhead(calls: int) -> tuple[float, float]:
    """Microseconds per call: raw httpx vs kugel, both on the same MockTransport."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True})

    transport = httpx.MockTransport(handler)
    raw = httpx.AsyncClient(transport=transport)
    registry = ServiceRegistry(environ={})
    registry.register("mock", "http://mock.test")
    pool = ServiceClientPool(registry=registry, transport=lambda _n, _s: transport)

    async def raw_call() -> None:
        (await raw.get("http://mock.test/x")).json()

    async def kugel_call() -> None:
        async with pool.client("mock") as client:
            await client.get("/x")

    timings: dict[str, list[float]] = {"raw": [], "kugel": []}
    for _ in range(5):
        for name, fn in (("raw", raw_call), ("kugel", kugel_call)):
            started = time.perf_counter()
            for _ in range(calls):
                await fn()
            timings[name].append((time.perf_counter() - started) / calls * 1e6)
    await raw.aclose()
    await pool.aclose()
    return statistics.median(timings["raw"]), statistics.median(timings["kugel"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--transport", choices=["httpcore", "aiohttp"],
                        help="kugel's transport; default: KUGEL_TRANSPORT, else kugel's default")
    args = parser.parse_args()
    settings = ClientSettings(**({"transport": args.transport} if args.transport else {}))
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})  # client on core 0, server on core 1
    port = free_port()
    server = start_server(port)
    try:
        results = asyncio.run(run(f"http://127.0.0.1:{port}", args.rounds, args.requests,
                                  settings))
    finally:
        server.terminate()
        server.wait(timeout=10)
    raw_us, kugel_us = asyncio.run(overhead(2000))

    def med(name: str, c: int) -> tuple[float, float]:
        samples = results[(name, c)]
        return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))

    print(f"kugel transport: {settings.transport}; median of {args.rounds} interleaved rounds; "
          f"{args.requests} requests per measurement (c: {max(20, args.requests // 20)})")
    print(f"{'conc':>4} | {'a raw httpx':>16} | {'b kugel':>16} | {'c new client':>16} | "
          f"{'d aiohttp':>16} | {'b/a':>5} | {'b/c':>6} | {'b/d':>5}")
    print(f"{'':>4} | {'req/s   p99 ms':>16} | {'req/s   p99 ms':>16} | {'req/s   p99 ms':>16} | "
          f"{'req/s   p99 ms':>16} |")
    for c in CONCURRENCY:
        cells = {n: med(n, c) for n in "abcd"}
        row = " | ".join(f"{cells[n][0]:>7.0f} {cells[n][1]:>8.2f}" for n in "abcd")
        b = cells["b"][0]
        print(f"{c:>4} | {row} | {b / cells['a'][0]:>5.2f} | {b / cells['c'][0]:>6.1f} | "
              f"{b / cells['d'][0]:>5.2f}")
    print(f"MockTransport: raw httpx {raw_us:.1f} us/call, kugel {kugel_us:.1f} us/call, "
          f"added {kugel_us - raw_us:.1f} us/call")


if __name__ == "__main__":
    main()
