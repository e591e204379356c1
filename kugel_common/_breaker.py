"""One circuit breaker per service, shared by every caller and task on the event loop.

::

    closed --(failure ratio over the window, once it holds min_calls)--> open
    closed --(N consecutive failures, while the window holds fewer calls)--> open
    open --(reset timeout, jittered)--> half_open
    half_open --(M successful probes)--> closed
    half_open --(a failed probe)--> open
    any --isolate()--> isolated --reset()--> closed

Only dependency failures count: transport errors, timeouts, 5xx and 429. A 4xx means the server is
healthy; a cancelled call or the caller's own bug says nothing about it either way.

The ratio rule is the main one, as in Polly v8 and resilience4j: a dependency that fails 30 % of
calls at random is sick but useful, and at 1000 callers a run of five failures in a row happens
by chance within the first wave. Consecutive failures decide only while traffic is too thin for
a ratio to mean anything.

A breaker decides alone, from memory. Given a :class:`~kugel_common.BreakerStore`, it also shares
its state with the other replicas' breakers, in the background (``_breaker_store.py``).
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from ._breaker_store import BreakerSnapshot, BreakerStore, StoreLink
from ._clock import Clock
from ._window import SlidingCounts

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker", "Permit"]

logger = logging.getLogger("kugel_common.breaker")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    ISOLATED = "isolated"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_threshold: int = 10
    failure_ratio: float = 0.5
    min_calls: int = 100
    window: float = 30.0
    reset_timeout: float = 10.0
    reset_jitter: float = 0.2
    half_open_probes: int = 1
    success_threshold: int = 1


@dataclass(slots=True)
class Permit:
    """Proof of admission. Outcomes of calls admitted before the last state change are ignored."""

    generation: int
    probe: bool


StateListener = Callable[[str, BreakerState, BreakerState], None]


class CircuitBreaker:
    def __init__(
        self,
        service: str,
        config: BreakerConfig,
        clock: Clock,
        on_change: StateListener | None = None,
        rng: random.Random | None = None,
        store: BreakerStore | None = None,
    ) -> None:
        self.service = service
        self._config = config
        self._clock = clock
        self._on_change = on_change
        self._rng = rng or random.Random()
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._consecutive_failures = 0
        self._window = SlidingCounts(config.window, clock)  # hits: successes, misses: failures
        self._reopen_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._link = (None if store is None
                      else StoreLink(service, store, clock, self.snapshot, self._adopt))

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock.now() >= self._reopen_at:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def retry_after(self) -> float:
        """Seconds until the breaker lets a probe through; 0 when it admits calls now."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self._reopen_at - self._clock.now())
        return 0.0

    def snapshot(self) -> BreakerSnapshot:
        """What a store keeps of this breaker."""
        return BreakerSnapshot(self.state, self.retry_after())

    def rejects(self) -> bool:
        """Whether a call would be refused now; unlike :meth:`try_acquire`, takes no permit."""
        if self._link is not None:  # once per attempt: the one place that reads shared state
            self._link.refresh(self._generation)
        state = self.state
        return state is not BreakerState.CLOSED and not (
            state is BreakerState.HALF_OPEN
            and self._probes_in_flight < self._config.half_open_probes
        )

    def try_acquire(self) -> Permit | None:
        """A permit to make one call, or None when the call must fail fast."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(self._generation, probe=False)
        if state is BreakerState.HALF_OPEN and (
            self._probes_in_flight < self._config.half_open_probes
        ):
            self._probes_in_flight += 1
            return Permit(self._generation, probe=True)
        return None

    def record(self, permit: Permit, success: bool | None) -> None:
        """The outcome of a permitted call: True healthy, False failure, None says nothing."""
        if permit.generation != self._generation:
            return
        if permit.probe:
            self._probes_in_flight -= 1
            if success is False:
                self._open()
            elif success:
                self._probe_successes += 1
                if self._probe_successes >= self._config.success_threshold:
                    self._transition(BreakerState.CLOSED)
            return
        if success is None:
            return
        if success:
            self._consecutive_failures = 0
            self._window.add(hits=1)
            return
        self._consecutive_failures += 1
        self._window.add(misses=1)
        successes, failures = self._window.totals()
        calls = successes + failures
        if calls >= self._config.min_calls:
            tripped = failures / calls >= self._config.failure_ratio
        else:
            tripped = self._consecutive_failures >= self._config.failure_threshold
        if tripped:
            self._open()

    def isolate(self) -> None:
        """Hold the breaker open until :meth:`reset`, e.g. while a dependency is drained."""
        self._transition(BreakerState.ISOLATED)

    def reset(self) -> None:
        self._transition(BreakerState.CLOSED)

    def _adopt(self, shared: BreakerSnapshot, generation: int) -> None:
        """Take on another replica's view, read when the breaker was at ``generation``; a local
        change since then is newer, and wins."""
        if generation != self._generation:
            return
        state = self.state
        if shared.state is BreakerState.OPEN and shared.retry_after > 0 and state in (
            BreakerState.CLOSED, BreakerState.HALF_OPEN
        ):
            self._reopen_at = self._clock.now() + shared.retry_after
            self._transition(BreakerState.OPEN, shared=True)
        elif shared.state is BreakerState.ISOLATED and state is not BreakerState.ISOLATED:
            self._transition(BreakerState.ISOLATED, shared=True)
        elif shared.state is BreakerState.CLOSED and state is BreakerState.ISOLATED:
            self._transition(BreakerState.CLOSED, shared=True)

    async def aclose(self) -> None:
        if self._link is not None:
            await self._link.aclose()

    def _open(self) -> None:
        jitter = 1.0 + self._rng.uniform(0.0, self._config.reset_jitter)
        self._reopen_at = self._clock.now() + self._config.reset_timeout * jitter
        self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState, *, shared: bool = False) -> None:
        """``shared``: the change comes from the store, so it is not written back."""
        old = self._state
        self._state = new
        self._generation += 1
        self._probes_in_flight = 0
        self._probe_successes = 0
        if new is BreakerState.CLOSED:
            self._consecutive_failures = 0
            self._window.clear()
        if old is new:
            return
        log = logger.warning if new in (BreakerState.OPEN, BreakerState.ISOLATED) else logger.info
        log("breaker %s: %s -> %s%s", self.service, old.value, new.value,
            " (another replica's)" if shared else "",
            extra={"service": self.service, "old": old.value, "new": new.value})
        if self._link is not None and not shared:
            self._link.changed()
        if self._on_change is not None:
            self._on_change(self.service, old, new)
