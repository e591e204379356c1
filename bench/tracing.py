"""What tracing and metrics add per call, side by side in one run on httpx.MockTransport:
`make bench`.

    python bench/tracing.py [--calls 2000] [--rounds 7]

Variants, each one kugel pool calling the same MockTransport:
  disabled   the path of an install without opentelemetry-api: no tracer, no meter
  off        opentelemetry-api installed, no SDK configured: the API's no-op tracer and meter
  on/simple  the tracing SDK, SimpleSpanProcessor, an exporter that drops every span
  on/batch   the tracing SDK, BatchSpanProcessor, the same exporter
  metrics    the metrics SDK, a reader that is never collected (no tracing SDK)
Rounds are interleaved and the median of each is reported; the added cost and the ratio to
`disabled` are the result, since absolute numbers on a shared machine are noise.

OpenTelemetry sets its global providers once per process; to run "off" beside "on", the bench
swaps the API's private globals between rounds (a channel's tracer is the global proxy, which
asks for the provider on each span while none is set; its meter's histogram is made when the
channel is built, in round 0, from the provider set then).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence

import httpx
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry


class Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def provider(processor: type[SimpleSpanProcessor] | type[BatchSpanProcessor]) -> TracerProvider:
    sdk = TracerProvider()
    sdk.add_span_processor(processor(Drop()))
    return sdk


def pool(transport: httpx.MockTransport, tracing: bool) -> ServiceClientPool:
    registry = ServiceRegistry(environ={})
    registry.register("mock", "http://mock.test")
    return ServiceClientPool(registry=registry, settings=ClientSettings(tracing=tracing),
                             transport=lambda _n, _s: transport)


async def run(calls: int, rounds: int) -> dict[str, float]:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    meter_sdk = MeterProvider(metric_readers=[InMemoryMetricReader()])
    variants = {  # name: (pool, the global tracer and meter providers while it runs)
        "disabled": (pool(transport, False), None, None),
        "off": (pool(transport, True), None, None),
        "on/simple": (pool(transport, True), provider(SimpleSpanProcessor), None),
        "on/batch": (pool(transport, True), provider(BatchSpanProcessor), None),
        "metrics": (pool(transport, True), None, meter_sdk),
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds + 1):  # round 0 warms up, and builds each channel
        for name, (kugel, sdk, meter) in variants.items():
            trace._TRACER_PROVIDER = sdk  # private: see the docstring
            metrics._internal._METER_PROVIDER = meter
            client = kugel.client("mock")
            started = time.perf_counter()
            for _ in range(calls):
                await client.get("/items/{code}", path_params={"code": "a1"})
            if round_:
                timings[name].append((time.perf_counter() - started) / calls * 1e6)
            elif name == "disabled":  # the channel is built by its first call
                kugel._channels["mock"].meter = None  # as without opentelemetry-api
    trace._TRACER_PROVIDER = None
    metrics._internal._METER_PROVIDER = None
    for kugel, sdk, _ in variants.values():
        await kugel.aclose()
        if sdk is not None:
            sdk.shutdown()
    meter_sdk.shutdown()
    return {name: statistics.median(samples) for name, samples in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results = asyncio.run(run(args.calls, args.rounds))
    base = results["disabled"]
    print(f"tracing and metrics on MockTransport: median of {args.rounds} interleaved rounds, "
          f"{args.calls} calls each")
    for name, us in results.items():
        print(f"  {name:10} {us:7.1f} us/call   added {us - base:+6.1f} us   "
              f"{us / base:.2f}x disabled")


if __name__ == "__main__":
    main()
