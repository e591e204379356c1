"""Publishing through the local sidecar, side by side in one run: part of `make bench`.

A `kugel sidecar` process on 127.0.0.1 (pinned to core 1 where taskset works) takes 1000
events in each of four ways, in 3 interleaved rounds, and the median of each is reported:
  single    1000 `publish_event` calls, one after another
  single10  the same, 10 at a time
  bulk      `publish_events` in batches of 100
  outbox    1000 `Outbox.publish` calls (SQLite file, synchronous=FULL), then the relay drains
The ratios are the result: bulk against single, and the outbox's cost against a direct publish.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from _servers import free_port  # bench/ is the script's folder

from kugel_common import ServiceClientPool
from kugel_common.dapr import DaprClientHelper, Outbox

EVENTS = 1000
COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.redis
  version: v1
  metadata: []
"""


def start_sidecar(port: int, resources: Path) -> subprocess.Popen[bytes]:
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") and (os.cpu_count() or 1) >= 2 else []
    command = [sys.executable, "-m", "kugel_common._cli", "sidecar", "--app-id", "bench",
               "--dapr-http-port", str(port), "--resources-path", str(resources),
               "--in-memory", "--log-level", "warning"]
    process = subprocess.Popen(pin + command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1.0/healthz").status_code == 204:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the sidecar did not start")


async def run(url: str, rounds: int, workdir: Path) -> dict[str, list[float]]:
    pool = ServiceClientPool()
    dapr = DaprClientHelper(pool, sidecar_url=url, environ={})
    payload = {"tenant": "t1", "store": "s1", "total": "12.34", "lines": list(range(10))}

    async def single() -> None:
        for _ in range(EVENTS):
            await dapr.publish_event("pubsub", "bench", payload)

    async def single10() -> None:
        async def worker() -> None:
            for _ in range(EVENTS // 10):
                await dapr.publish_event("pubsub", "bench", payload)
        await asyncio.gather(*(worker() for _ in range(10)))

    async def bulk() -> None:
        for _ in range(EVENTS // 100):
            result = await dapr.publish_events("pubsub", "bench", [payload] * 100)
            assert result.ok

    outboxes = iter(range(1000))

    async def outbox() -> None:
        async with Outbox(dapr, workdir / f"outbox-{next(outboxes)}.sqlite3") as box:
            for _ in range(EVENTS):
                await box.publish("pubsub", "bench", payload)
            await box.drain(timeout=120)

    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "single": single, "single10": single10, "bulk": bulk, "outbox": outbox}
    results: dict[str, list[float]] = {name: [] for name in variants}
    await single()  # warm-up
    for _ in range(rounds):
        for name, variant in variants.items():
            started = time.perf_counter()
            await variant()
            results[name].append(EVENTS / (time.perf_counter() - started))
    await pool.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "components").mkdir()
        (workdir / "components" / "pubsub.yaml").write_text(COMPONENT)
        port = free_port()
        sidecar = start_sidecar(port, workdir / "components")
        try:
            results = asyncio.run(run(f"http://127.0.0.1:{port}", args.rounds, workdir))
        finally:
            sidecar.terminate()
            sidecar.wait(timeout=10)
    rate = {name: statistics.median(samples) for name, samples in results.items()}
    print(f"publish {EVENTS} events through the local sidecar; median of {args.rounds} "
          "interleaved rounds")
    for name, value in rate.items():
        print(f"  {name:<9} {value:8.0f} events/s")
    print(f"bulk / single:   {rate['bulk'] / rate['single']:.1f}x")
    print(f"single10 / single: {rate['single10'] / rate['single']:.1f}x")
    print(f"outbox / single: {rate['outbox'] / rate['single']:.2f} "
          "(record durably + relay, against a direct publish)")


if __name__ == "__main__":
    main()
