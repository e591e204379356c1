"""The retry loop of one call: tenacity driven by kugel's policy, budget and deadline.

The rules (which outcome is retried, the backoff formula) are in ``_retry_policy.py``; the
budget in ``_budget.py``; ``Retry-After`` parsing in ``_retry_after.py``. tenacity drives the
loop; its types never leave this module.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from tenacity import AsyncRetrying, RetryCallState

from . import _testing_mode
from ._budget import RetryBudget
from ._clock import Clock
from ._retry_after import retry_after_seconds
from ._retry_policy import RetryPolicy

__all__ = ["RetryRun"]


class OnRetry(Protocol):
    def __call__(self, attempt: int, error: httpx.Response | BaseException, delay: float) -> None:
        ...


@dataclass(slots=True)
class RetryRun:
    """Everything one call's retry loop needs to decide, built per call."""

    policy: RetryPolicy
    budget: RetryBudget
    clock: Clock
    rng: random.Random
    method: str
    idempotency_key: bool
    deadline: float
    on_retry: OnRetry
    on_budget_denied: Callable[[], None]

    def _outcome(self, state: RetryCallState) -> httpx.Response | BaseException:
        outcome = state.outcome
        assert outcome is not None
        exc = outcome.exception()
        return exc if exc is not None else outcome.result()

    def _retry(self, state: RetryCallState) -> bool:
        return self.policy.should_retry(self.method, self.idempotency_key, self._outcome(state))

    def _wait(self, state: RetryCallState) -> float:
        outcome = self._outcome(state)
        if isinstance(outcome, httpx.Response):
            asked = retry_after_seconds(outcome)
            if asked is not None:
                return 0.0 if _testing_mode.waits_are_instant() else asked
        return self.policy.backoff(state.attempt_number, self.rng)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts():
            return True
        left_after_sleep = self.deadline - self.clock.now() - state.upcoming_sleep
        if left_after_sleep < max(self.policy.min_attempt_time, 1e-9):
            return True
        if not self.budget.try_spend():
            self.on_budget_denied()
            return True
        return False

    async def _before_sleep(self, state: RetryCallState) -> None:
        outcome = self._outcome(state)
        if isinstance(outcome, httpx.Response):
            await outcome.aclose()
        self.on_retry(state.attempt_number, outcome, state.upcoming_sleep)

    async def run(
        self,
        attempt: Callable[[], Awaitable[httpx.Response]],
        first: httpx.Response | BaseException,
    ) -> httpx.Response:
        """Retry after a ``first`` outcome worth retrying; return or raise the last outcome.

        The caller makes the first attempt itself, because setting up tenacity costs more than
        a fast call; the first outcome is replayed to tenacity as its attempt 1.
        """
        replayed = False

        async def replay_then_attempt() -> httpx.Response:
            nonlocal replayed
            if not replayed:
                replayed = True
                if isinstance(first, BaseException):
                    raise first
                return first
            return await attempt()

        retrying = AsyncRetrying(
            retry=self._retry,
            wait=self._wait,
            stop=self._stop,
            sleep=self.clock.sleep,
            before_sleep=self._before_sleep,
            retry_error_callback=_last_outcome,
        )
        return await retrying(replay_then_attempt)


def _last_outcome(state: RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()
