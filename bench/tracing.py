"""What tracing and metrics add per call, side by side in one run on httpx.MockTransport:
`make bench`.

    python bench/tracing.py [--calls 2000] [--rounds 15] [--seed N]

Variants, each one kugel pool calling the same MockTransport:
  disabled   the path of an install without opentelemetry-api: no tracer, no meter
  off        opentelemetry-api installed, no SDK configured: the API's no-op tracer and meter
  on/simple  the tracing SDK, SimpleSpanProcessor, an exporter that drops every span
  on/batch   the tracing SDK, BatchSpanProcessor, the same exporter
  metrics    the metrics SDK, a reader that is never collected (no tracing SDK)
  disabled²  `disabled` again, a second pool: its distance from `disabled` is this run's
             noise, the yardstick for "off is within noise"
The first three run before any SDK object exists, the SDK variants after, each beside its own
`disabled`.
Rounds are interleaved, each in its own order, and the median of each is reported; the added
cost and the ratio to `disabled` are the result, since absolute numbers on a shared machine are
noise. As that noise can exceed the no-op path's cost, that path (the call span that does not
start, the histogram record that does nothing) is also timed on its own, with timeit.

OpenTelemetry sets its global providers once per process; to run "off" beside "on", the bench
swaps the API's private globals between rounds (a channel's tracer is the global proxy, which
asks for the provider on each span while none is set; its meter's histogram is made when the
channel is built, in round 0, from the provider set then).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import timeit
from collections.abc import Callable, Sequence

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
from kugel_common._call import Call
from kugel_common._client_meter import ClientMeter
from kugel_common._client_spans import ClientTracer


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


Variant = tuple[ServiceClientPool, TracerProvider | None, MeterProvider | None]


def off_variants(transport: httpx.MockTransport) -> dict[str, Variant]:
    """Measured first, before any SDK object exists (a batch processor's thread would take
    its share of the GIL from whichever variant runs next): as an application without one."""
    return {"disabled": (pool(transport, False), None, None),
            "off": (pool(transport, True), None, None),
            "disabled²": (pool(transport, False), None, None)}


def on_variants(transport: httpx.MockTransport) -> dict[str, Variant]:
    return {"disabled": (pool(transport, False), None, None),
            "on/simple": (pool(transport, True), provider(SimpleSpanProcessor), None),
            "on/batch": (pool(transport, True), provider(BatchSpanProcessor), None),
            "metrics": (pool(transport, True), None,
                        MeterProvider(metric_readers=[InMemoryMetricReader()]))}


async def measure(variants: dict[str, Variant], calls: int, rounds: int,
                  shuffle: Callable[[list[str]], None]) -> dict[str, float]:
    """Each variant's median µs per call, the providers of each set while it runs."""
    timings: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for round_ in range(rounds + 1):  # round 0 warms up, and builds each channel
        if round_:  # a new order each round: no variant always runs after the same one
            shuffle(order)
        for name in order:
            kugel, sdk, meter = variants[name]
            trace._TRACER_PROVIDER = sdk  # private: see the docstring
            metrics._internal._METER_PROVIDER = meter
            client = kugel.client("mock")
            started = time.perf_counter()
            for _ in range(calls):
                await client.get("/items/{code}", path_params={"code": "a1"})
            if round_:
                timings[name].append((time.perf_counter() - started) / calls * 1e6)
            elif name.startswith("disabled"):  # the channel is built by its first call
                kugel._channels["mock"].meter = None  # as without opentelemetry-api
    trace._TRACER_PROVIDER = None
    metrics._internal._METER_PROVIDER = None
    for kugel, sdk, meter in variants.values():
        await kugel.aclose()
        for made in (sdk, meter):
            if made is not None:
                made.shutdown()
    return {name: statistics.median(samples) for name, samples in timings.items()}


def noop_path_us(number: int) -> float:
    """What `off` adds to a call, timed alone: before any SDK object exists."""
    tracer, meter = ClientTracer("mock"), ClientMeter("mock")
    call = Call("GET", "/items/a1", "/items/{code}", None, None, None, None, None, None, 0.0,
                False)
    reply = httpx.Response(200)

    def one() -> None:
        tracer.call(call)
        meter.record(0.01, "GET", "/items/{code}", "http://mock.test", reply)

    return min(timeit.repeat(one, number=number, repeat=5)) / number * 1e6


def show(results: dict[str, float]) -> None:
    base = results["disabled"]
    for name, us in results.items():
        print(f"  {name:10} {us:7.1f} us/call   added {us - base:+6.1f} us   "
              f"{us / base:.2f}x disabled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=None, help="the rounds' order")
    args = parser.parse_args()
    seed = random.randrange(2**32) if args.seed is None else args.seed
    shuffle = random.Random(seed).shuffle
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    print(f"tracing and metrics on MockTransport: median of {args.rounds} rounds, "
          f"{args.calls} calls each, variants in a new order each round (seed {seed})")
    print("no SDK in the process:")
    print(f"  the no-op path alone (a span not started, a record not kept): "
          f"{noop_path_us(args.calls * 100):.2f} us/call")
    off = asyncio.run(measure(off_variants(transport), args.calls, args.rounds, shuffle))
    show(off)
    noise = abs(off["disabled²"] / off["disabled"] - 1)
    added = off["off"] / off["disabled"] - 1
    print(f"  off adds {added:+.1%}; this run's noise (disabled² vs disabled) is {noise:.1%}: "
          f"{'within' if abs(added) <= max(noise, 0.02) else 'OUTSIDE'} noise")
    print("with the SDKs:")
    show(asyncio.run(measure(on_variants(transport), args.calls, args.rounds, shuffle)))


if __name__ == "__main__":
    main()
