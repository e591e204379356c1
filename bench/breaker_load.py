"""1000 concurrent callers against an upstream that answers 503 at random: `make bench`.

For each failure rate and each variant (kugel's defaults, then the defaults before issue 11 and
retries without a budget, for comparison) the run reports, side by side:

- success: the share of calls that returned a response;
- amplification: requests the upstream received per call (1.0 means no retries at all);
- whether the breaker opened.

The targets (issue 11): at 30 % failures, success >= 90 % with amplification <= 1.35; at 100 %,
amplification <= 1.2 and the breaker opens; at 5 %, success >= 99.9 %. The upstream is a real
uvicorn process on 127.0.0.1; the short version of this run is in tests/integration.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _servers import free_port, start_process  # bench/ is the script's folder

from kugel_common import (
    BreakerChange,
    BreakerState,
    ClientSettings,
    ServiceClientPool,
    ServiceRegistry,
    ServiceUnavailableError,
)

HERE = Path(__file__).resolve().parent
TARGETS = {5: "success >= 99.9%", 30: "success >= 90%, amplification <= 1.35",
           100: "amplification <= 1.2, breaker opens"}
VARIANTS = {
    "defaults": {},
    "5 in a row, budget 0.2": {"breaker_failure_threshold": 5, "breaker_min_calls": 20,
                               "retry_budget_ratio": 0.2},
    "no retry budget": {"retry_budget_ratio": 1.0},
}


@dataclass
class Result:
    percent: int
    calls: int
    successes: int
    attempts: int
    errors: Counter[str] = field(default_factory=Counter)
    breaker_opened: bool = False

    @property
    def success(self) -> float:
        return self.successes / self.calls

    @property
    def amplification(self) -> float:
        return self.attempts / self.calls

    def meets_target(self) -> bool:
        if self.percent >= 100:
            return self.amplification <= 1.2 and self.breaker_opened
        if self.percent >= 30:
            return self.success >= 0.90 and self.amplification <= 1.35
        return self.success >= 0.999


def start_upstream(port: int, seed: int) -> subprocess.Popen[bytes]:
    return start_process(
        [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log", "flaky_app:app"],
        port, env={"FLAKY_SEED": str(seed)})


@dataclass
class _Opened:
    """A hook that keeps each state the breaker enters."""

    states: list[BreakerState]

    def on_breaker_change(self, details: BreakerChange) -> None:
        self.states.append(details.new)


async def scenario(url: str, percent: int, callers: int, calls_each: int,
                   settings: ClientSettings) -> Result:
    """One fresh pool (so a fresh breaker) per failure rate."""
    opened: list[BreakerState] = []
    registry = ServiceRegistry(environ={})
    registry.register("flaky", url)
    pool = ServiceClientPool(registry=registry, settings=settings, hooks=[_Opened(opened)])
    result = Result(percent, callers * calls_each, 0, 0)
    run = uuid.uuid4().hex

    async def caller() -> None:
        client = pool.client("flaky")
        for _ in range(calls_each):
            try:
                await client.get(f"/fail/{percent}/{run}")
                result.successes += 1
            except ServiceUnavailableError as exc:
                result.errors[type(exc).__name__] += 1

    try:
        async with asyncio.timeout(120):
            await asyncio.gather(*(caller() for _ in range(callers)))
    finally:
        await pool.aclose()
    async with httpx.AsyncClient() as plain:
        result.attempts = (await plain.get(f"{url}/hits/{run}")).json()["hits"]
    result.breaker_opened = BreakerState.OPEN in opened
    return result


def report(results: list[Result], variant: str = "defaults") -> str:
    lines = []
    for r in results:
        verdict = "ok" if r.meets_target() else "MISSED"
        lines.append(f"{variant:>22} | {r.percent:>7}% | {r.success:>8.2%} | "
                     f"{r.amplification:>7.3f} | {'opened' if r.breaker_opened else 'closed':>7} "
                     f"| {TARGETS[r.percent]}: {verdict} {dict(r.errors)}")
    return "\n".join(lines)


async def run_all(url: str, callers: int, calls_each: int) -> bool:
    """Every variant at every rate; True when kugel's defaults meet every target."""
    print(f"{'variant':>22} | {'503 rate':>8} | {'success':>8} | {'amplif.':>7} | "
          f"{'breaker':>7} | target")
    met = True
    for variant, overrides in VARIANTS.items():
        for percent in TARGETS:
            result = await scenario(url, percent, callers, calls_each,
                                    ClientSettings(**overrides))  # type: ignore[arg-type]
            print(report([result], variant), flush=True)
            met = met and (variant != "defaults" or result.meets_target())
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=5, help="calls per caller")
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    args = parser.parse_args()
    print(f"{args.callers} callers x {args.calls} calls each, upstream seed {args.seed}")
    port = free_port()
    upstream = start_upstream(port, args.seed)
    try:
        met = asyncio.run(run_all(f"http://127.0.0.1:{port}", args.callers, args.calls))
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
