"""The short version of bench/breaker_load.py: 1000 concurrent callers, a real uvicorn upstream
that answers 503 at random, kugel's default settings. Backoff is instant (set_testing), so the
run measures the rules, not the sleeps."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kugel_common import ClientSettings, set_testing

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # as when run as a script
from _servers import free_port
from breaker_load import TARGETS, report, scenario, start_upstream


@pytest.fixture(scope="module")
def flaky() -> Iterator[tuple[str, int]]:
    seed = random.randrange(2**32)
    port = free_port()
    upstream = start_upstream(port, seed)
    try:
        yield f"http://127.0.0.1:{port}", seed
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)


@pytest.mark.parametrize("percent", list(TARGETS))
async def test_default_breaker_and_budget_under_random_503s(
    flaky: tuple[str, int], percent: int
) -> None:
    url, seed = flaky
    with set_testing(True):
        result = await scenario(url, percent, callers=1000, calls_each=5,
                                settings=ClientSettings())
    summary = f"upstream seed {seed}\n{report([result])}"
    print(summary)
    assert result.meets_target(), summary
    assert result.breaker_opened is (percent == 100)
