"""The retry budget: retries capped at a share of recent requests, per service.

Without it, a failing dependency sees ``attempts`` times its normal load exactly when it can
least bear it; with it, at most about ``1 + ratio`` times.
"""

from __future__ import annotations

from ._clock import Clock
from ._window import SlidingCounts

__all__ = ["RetryBudget"]


class RetryBudget:
    """Allow a retry only while retries stay under ``ratio`` of requests in the window.

    ``min_per_second`` retries per second are always allowed, so a quiet service can still retry.
    """

    def __init__(self, ratio: float, min_per_second: float, window: float, clock: Clock) -> None:
        self._ratio = ratio
        self._floor = min_per_second * window
        self._counts = SlidingCounts(window, clock)  # hits: requests, misses: retries

    def record_request(self) -> None:
        self._counts.add(hits=1)

    def try_spend(self) -> bool:
        requests, retries = self._counts.totals()
        if retries + 1 > self._ratio * requests + self._floor:
            return False
        self._counts.add(misses=1)
        return True
