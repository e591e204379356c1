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

The defaults below are the only place these numbers are written; ``ClientSettings`` reads them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from . import _testing_mode
from ._outcome import RETRYABLE_STATUSES, Failure, classify

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # the first one included
    backoff_initial: float = 0.1  # seconds
    backoff_max: float = 2.0  # seconds
    min_attempt_time: float = 0.05  # seconds

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
        if _testing_mode.waits_are_instant():
            return 0.0
        cap = min(self.backoff_max, self.backoff_initial * 2 ** (retry_number - 1))
        return rng.uniform(0.0, cap)

    def max_attempts(self) -> int:
        return _testing_mode.max_attempts(self.attempts)
