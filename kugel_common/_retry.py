"""When to try a call again, and how long to wait first.

The rules, by method:

- GET, HEAD, OPTIONS, PUT and DELETE are idempotent. They retry on connect errors, timeouts,
  broken connections and 408, 429, 502, 503, 504.
- POST and PATCH retry only when the request cannot have reached the server (connection refused,
  connect or pool timeout), unless they carry an ``Idempotency-Key`` header, which makes them
  idempotent.
- Nothing else is retried: not 500, not 501, not any other 4xx. Cancellation propagates at once.

Backoff is exponential with full jitter: before retry ``n`` (1-based) kugel sleeps a random
``uniform(0, min(backoff_max, backoff_initial * 2 ** (n - 1)))`` seconds. A ``Retry-After``
header (seconds or HTTP-date) replaces that delay. Either way no sleep may eat into the last
``min_attempt_time`` seconds of the call's deadline: if it would, the call fails at once.

A per-service :class:`RetryBudget` caps retries at a share of recent requests, so a failing
dependency sees at most about ``1 + ratio`` times its normal load instead of ``attempts`` times.

tenacity drives the loop; its types never appear in kugel's public API.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from tenacity import AsyncRetrying, RetryCallState

from ._clock import Clock
from ._outcome import RETRYABLE_STATUSES, Failure, classify
from ._window import SlidingCounts

__all__ = ["RetryBudget", "RetryPolicy", "Testing", "set_testing"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(slots=True)
class Testing:
    """Handle returned by :func:`set_testing`; leaving it (or ``restore()``) undoes the call."""

    enabled: bool
    attempts: int | None
    _previous: tuple[bool, int | None] = field(repr=False)

    def restore(self) -> None:
        global _testing
        _testing = self._previous

    def __enter__(self) -> Testing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


_testing: tuple[bool, int | None] = (False, None)


def set_testing(enabled: bool, *, attempts: int | None = None) -> Testing:
    """Make every backoff instant and optionally cap attempts, without monkeypatching.

    ``with set_testing(True, attempts=2): ...`` restores the previous mode on exit.
    """
    global _testing
    previous = _testing
    _testing = (enabled, attempts)
    return Testing(enabled, attempts, previous)


class OnRetry(Protocol):
    def __call__(self, attempt: int, error: httpx.Response | BaseException, delay: float) -> None:
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    backoff_initial: float = 0.1
    backoff_max: float = 2.0
    min_attempt_time: float = 0.05

    def should_retry(
        self, method: str, idempotency_key: bool, outcome: httpx.Response | BaseException
    ) -> bool:
        failure = classify(outcome)
        if failure is Failure.NOT_SENT:
            return True
        if failure is Failure.TIMEOUT or failure is Failure.TRANSPORT:
            retryable = not isinstance(outcome, TimeoutError)  # False: the deadline is spent
        else:
            retryable = (
                isinstance(outcome, httpx.Response) and outcome.status_code in RETRYABLE_STATUSES
            )
        return retryable and (method in IDEMPOTENT_METHODS or idempotency_key)

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        if _testing[0]:
            return 0.0
        cap = min(self.backoff_max, self.backoff_initial * 2 ** (retry_number - 1))
        return rng.uniform(0.0, cap)

    def max_attempts(self) -> int:
        enabled, attempts = _testing
        return min(self.attempts, attempts) if enabled and attempts else self.attempts


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's ``Retry-After`` in seconds from now, if it sent a readable one."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also takes "²", which float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
                return 0.0 if _testing[0] else asked
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
