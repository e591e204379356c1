"""``kind: Resiliency`` files, applied as daprd applies them (dapr/dapr ``pkg/resiliency``).

What a policy does to one operation (``Policy.run``), in daprd's order: each attempt gets the
``timeout``; the circuit breaker counts attempts and, open, refuses them for good; the retry
policy waits between failed attempts. Retries are dapr/kit's back-off:

- ``constant``: ``duration`` (default 5 s) between attempts;
- ``exponential``: 0.5 s, then x1.5 each time, each randomised by +-50 %, capped at
  ``maxInterval`` (60 s), and given up after 15 minutes in all;
- ``maxRetries`` (default -1, no limit) retries after the first attempt.

A failed attempt that carries an HTTP status is retried only when ``matching.httpStatusCodes``
(when given) lists it. Targets: ``apps.<app-id>`` for service invocation, and
``components.<pubsub>.inbound`` for deliveries to the app; without a target, the
``Default...Policy`` names apply, as in daprd.

One deliberate difference: daprd logs a file whose policy it cannot read and ignores it, and
treats a target naming an unknown policy as no policy (or panics, for an unknown inbound
circuit breaker). The local sidecar refuses both at start-up, so the mistake is seen.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ._components import ComponentError, resource_documents
from ._go import kit_duration

__all__ = ["AttemptFailed", "Backoff", "BreakerOpen", "Policy", "Resiliency", "ResiliencyError",
           "Sleep", "load_resiliency"]

logger = logging.getLogger("kugel_common.dapr.sidecar")
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class ResiliencyError(ComponentError):
    """A Resiliency file the local sidecar refuses to start with."""


class AttemptFailed(Exception):
    """One failed attempt; ``status`` is the HTTP status the app answered, if it answered."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class BreakerOpen(AttemptFailed):
    """The circuit breaker refused the attempt: never retried (daprd's permanent error)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """dapr/kit ``retry.Config`` with its defaults; the YAML sets only the first four."""

    exponential: bool = False
    duration: float = 5.0
    max_interval: float = 60.0
    max_retries: int = -1
    retry_statuses: tuple[tuple[int, int], ...] | None = None  # matching.httpStatusCodes
    initial: float = 0.5
    multiplier: float = 1.5
    randomization: float = 0.5
    max_elapsed: float = 900.0

    def retries_status(self, status: int) -> bool:
        return self.retry_statuses is None or any(lo <= status <= hi
                                                  for lo, hi in self.retry_statuses)


@dataclass
class Breaker:
    """sony/gobreaker, as daprd configures it: opens when ``trip`` holds after a failure
    (default: more than 5 consecutive failures), refuses for ``timeout`` (60 s), then lets
    ``max_requests`` (1) through half-open; their success closes it, a failure reopens it."""

    trip: Callable[[Mapping[str, int]], bool]
    timeout: float = 60.0
    max_requests: int = 1
    interval: float = 0.0
    state: str = "closed"
    counts: dict[str, int] = field(default_factory=dict)
    _until: float = 0.0

    def before(self, now: float) -> None:
        if self.state == "closed" and self.interval and now >= self._until:
            self._reset(now + self.interval)
        if self.state == "open":
            if now < self._until:
                raise BreakerOpen("circuit breaker is open")
            self.state = "half-open"
            self._reset(0.0)
        if self.state == "half-open" and self.counts["requests"] >= self.max_requests:
            raise BreakerOpen("too many requests")
        self.counts["requests"] += 1

    def after(self, ok: bool, now: float) -> None:
        c = self.counts
        if ok:
            c["totalSuccesses"] += 1
            c["consecutiveSuccesses"] += 1
            c["consecutiveFailures"] = 0
            if self.state == "half-open" and c["consecutiveSuccesses"] >= self.max_requests:
                self.state = "closed"
                self._reset(now + self.interval if self.interval else 0.0)
            return
        c["totalFailures"] += 1
        c["consecutiveFailures"] += 1
        c["consecutiveSuccesses"] = 0
        if self.state == "half-open" or self.trip(c):
            logger.warning("circuit breaker opened")
            self.state = "open"
            self._reset(now + self.timeout)

    def _reset(self, until: float) -> None:
        self._until = until
        self.counts = dict.fromkeys(_COUNTS, 0)


_COUNTS = ("requests", "totalSuccesses", "totalFailures", "consecutiveSuccesses",
           "consecutiveFailures")


@dataclass(frozen=True, slots=True)
class Policy:
    """What applies to one target: any of a per-attempt timeout, retries and a breaker."""

    timeout: float = 0.0
    retry: Backoff | None = None
    breaker: Breaker | None = None

    async def run(self, attempt: Callable[[], Awaitable[T]], *, sleep: Sleep,
                  clock: Callable[[], float], rng: Callable[[], float] = random.random) -> T:
        """``attempt`` raises :class:`AttemptFailed` for a failure worth retrying."""
        started, retries, interval = clock(), 0, self.retry.initial if self.retry else 0.0
        while True:
            try:
                if self.breaker is not None:
                    self.breaker.before(clock())
                try:
                    async with asyncio.timeout(self.timeout or None):
                        result = await attempt()
                except TimeoutError as exc:
                    raise AttemptFailed(f"timed out after {self.timeout} s") from exc
                if self.breaker is not None:
                    self.breaker.after(True, clock())
                return result
            except BreakerOpen:
                raise
            except AttemptFailed as failed:
                if self.breaker is not None:
                    self.breaker.after(False, clock())
                retry = self.retry
                if retry is None or (failed.status is not None
                                     and not retry.retries_status(failed.status)):
                    raise
                if 0 <= retry.max_retries <= retries:
                    raise
                if retry.exponential:
                    delta = retry.randomization * interval
                    delay = interval - delta + rng() * 2 * delta
                    interval = min(interval * retry.multiplier, retry.max_interval)
                    if retry.max_elapsed and clock() - started + delay > retry.max_elapsed:
                        raise
                else:
                    delay = retry.duration
                retries += 1
                await sleep(delay)


@dataclass(frozen=True, slots=True)
class _Names:
    timeout: str = ""
    retry: str = ""
    breaker: str = ""


_BUILT_IN = {  # pkg/resiliency addBuiltInPolicies: a file may name (or override) them
    "DaprBuiltInServiceRetries": Backoff(duration=1.0, max_retries=3),
    "DaprBuiltInActorRetries": Backoff(duration=1.0, max_retries=3),
    "DaprBuiltInActorNotFoundRetries": Backoff(duration=1.0, max_retries=5),
    "DaprBuiltInActorReminderRetries": Backoff(exponential=True, max_interval=60.0),
    "DaprBuiltInInitializationRetries": Backoff(exponential=True, max_retries=3,
                                                max_interval=1.0, max_elapsed=10.0),
}


@dataclass
class Resiliency:
    """The policies and targets of every Resiliency file in scope of one app id."""

    timeouts: dict[str, float] = field(default_factory=dict)
    retries: dict[str, Backoff] = field(default_factory=lambda: dict(_BUILT_IN))
    breakers: dict[str, Callable[[], Breaker]] = field(default_factory=dict)
    apps: dict[str, _Names] = field(default_factory=dict)
    inbound_targets: dict[str, _Names] = field(default_factory=dict)
    _live: dict[str, Breaker] = field(default_factory=dict)  # one breaker per target

    @classmethod
    def for_app(cls, documents: Iterable[tuple[str, Mapping[str, Any]]],
                app_id: str) -> Resiliency:
        """Every document whose ``scopes`` are empty or name ``app_id``, later ones overriding
        earlier policies of the same name (daprd's ``filterResiliencyConfigs``)."""
        resiliency = cls()
        for source, document in documents:
            scopes = document.get("scopes") or []
            if not scopes or app_id in scopes:
                resiliency._decode(source, document)
        return resiliency

    def inbound(self, pubsub: str) -> Policy:
        """For deliveries from ``pubsub`` to the app (``ComponentInboundPolicy``)."""
        names = self.inbound_targets.get(pubsub) or self._default(
            ["PubsubComponentInbound", "ComponentInbound", "Component"])
        return self._policy(names, f"component:{pubsub}")

    def app(self, app_id: str, endpoint: str) -> Policy:
        """For service invocation of ``app_id`` (``EndpointPolicy``): a breaker per endpoint."""
        names = self.apps.get(app_id) or self._default(["App"])
        return self._policy(names, f"app:{app_id}:{endpoint}")

    def _default(self, levels: list[str]) -> _Names:
        def first(template: str, known: Mapping[str, object]) -> str:
            candidates = [template.format(level) for level in levels] + [template.format("")]
            return next((name for name in candidates if name in known), "")

        return _Names(first("Default{}TimeoutPolicy", self.timeouts),
                      first("Default{}RetryPolicy", self.retries),
                      first("Default{}CircuitBreakerPolicy", self.breakers))

    def _policy(self, names: _Names, target: str) -> Policy:
        breaker = None
        if names.breaker:
            breaker = self._live.get(target) or self._live.setdefault(
                target, self.breakers[names.breaker]())
        return Policy(self.timeouts.get(names.timeout, 0.0), self.retries.get(names.retry),
                      breaker)

    def _decode(self, source: str, document: Mapping[str, Any]) -> None:
        where = f"{source} (Resiliency {_name(document)})"
        spec = _mapping(document.get("spec"), where, "spec")
        policies = _mapping(spec.get("policies"), where, "spec.policies")
        for name, value in _mapping(policies.get("timeouts"), where, "timeouts").items():
            self.timeouts[str(name)] = _duration(value, f"{where}: timeout {name}")
        for name, value in _mapping(policies.get("retries"), where, "retries").items():
            self.retries[str(name)] = _backoff(_mapping(value, where, f"retry {name}"),
                                               f"{where}: retry {name}")
        for name, value in _mapping(policies.get("circuitBreakers"), where, "cb").items():
            self.breakers[str(name)] = _breaker(_mapping(value, where, f"breaker {name}"),
                                                f"{where}: circuit breaker {name}")
        targets = _mapping(spec.get("targets"), where, "spec.targets")
        for app, value in _mapping(targets.get("apps"), where, "targets.apps").items():
            self.apps[str(app)] = self._names(_mapping(value, where, f"app {app}"),
                                              f"{where}: targets.apps.{app}")
        components = _mapping(targets.get("components"), where, "targets.components")
        for name, value in components.items():
            inbound = _mapping(_mapping(value, where, name).get("inbound"), where, "inbound")
            self.inbound_targets[str(name)] = self._names(
                inbound, f"{where}: targets.components.{name}.inbound")

    def _names(self, target: Mapping[str, Any], where: str) -> _Names:
        names = _Names(str(target.get("timeout") or ""), str(target.get("retry") or ""),
                       str(target.get("circuitBreaker") or ""))
        for kind, name, known in (("timeout", names.timeout, self.timeouts),
                                  ("retry", names.retry, self.retries),
                                  ("circuitBreaker", names.breaker, self.breakers)):
            if name and name not in known:
                raise ResiliencyError(f"{where}: {kind} {name!r} is not a defined policy "
                                      f"(defined: {sorted(known) or 'none'})")
        return names


def load_resiliency(paths: Iterable[Path]) -> list[tuple[str, Mapping[str, Any]]]:
    """Every ``kind: Resiliency`` document of the resources paths; a per-app view is
    :meth:`Resiliency.for_app`. Like daprd, only the first document of a file is read."""
    documents = []
    for source, index, document in resource_documents(paths, "Resiliency"):
        if index:
            logger.warning("%s: daprd reads only the first YAML document of a resiliency "
                           "file; Resiliency %s is ignored", source, _name(document))
            continue
        Resiliency()._decode(source, document)  # refuse a bad file at start-up
        documents.append((source, document))
    return documents


def _name(document: Mapping[str, Any]) -> str:
    metadata = document.get("metadata")
    return str(metadata.get("name", "?")) if isinstance(metadata, dict) else "?"


def _mapping(value: Any, where: str, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResiliencyError(f"{where}: {what} must be a mapping")
    return value


def _duration(value: Any, where: str) -> float:
    try:
        return kit_duration(str(value))
    except ValueError as exc:
        raise ResiliencyError(f"{where}: invalid duration {value!r}") from exc


def _backoff(spec: Mapping[str, Any], where: str) -> Backoff:
    policy = str(spec.get("policy", "constant")).lower()
    if policy not in ("constant", "exponential"):
        raise ResiliencyError(f"{where}: unexpected back off policy type: {spec['policy']}")
    retries = spec.get("maxRetries", -1)
    if isinstance(retries, bool) or not isinstance(retries, int | str) or not re.fullmatch(
            r"-?\d+", str(retries)):
        raise ResiliencyError(f"{where}: maxRetries must be an integer, not {retries!r}")
    return Backoff(
        exponential=policy == "exponential",
        duration=_duration(spec.get("duration", "5s"), where),
        max_interval=_duration(spec.get("maxInterval", "60s"), where),
        max_retries=int(retries),
        retry_statuses=_codes(_mapping(spec.get("matching"), where, "matching")
                              .get("httpStatusCodes"), where),
    )


def _codes(patterns: Any, where: str) -> tuple[tuple[int, int], ...] | None:
    """``"500,502-504"``: the statuses to retry (pkg/resiliency/retry.go ``parsePatterns``)."""
    if not patterns:
        return None
    ranges = []
    for pattern in str(patterns).split(","):
        if not pattern:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", pattern)
        if match is None:
            raise ResiliencyError(f"{where}: invalid pattern {pattern!r}")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if not (100 <= low <= 599 and 100 <= high <= 599):
            raise ResiliencyError(f"{where}: invalid pattern {pattern!r}: codes are 100-599")
        ranges.append((low, high))
    return tuple(ranges)


_TRIP = re.compile(r"^\s*(" + "|".join(_COUNTS) + r")\s*(>=|<=|==|!=|>|<)\s*(\d+)\s*$")
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def _breaker(spec: Mapping[str, Any], where: str) -> Callable[[], Breaker]:
    """A factory: each target gets its own breaker built from the named template."""
    trip_text = str(spec.get("trip") or "consecutiveFailures > 5")
    match = _TRIP.match(trip_text)
    if match is None:
        raise ResiliencyError(f"{where}: trip {trip_text!r}: the local sidecar understands "
                              "<count> <comparison> <number>, e.g. consecutiveFailures >= 5")
    name, op, limit = match.group(1), _COMPARE[match.group(2)], int(match.group(3))
    timeout = _duration(spec.get("timeout", "60s"), where)
    interval = _duration(spec.get("interval", "0"), where)
    max_requests = int(spec.get("maxRequests") or 1)
    return lambda: Breaker(lambda counts: op(counts[name], limit), timeout, max_requests,
                           interval, counts=dict.fromkeys(_COUNTS, 0))
