"""The call pipeline for one service, and the state that every caller of that service shares.

One call: check the request -> deadline -> [attempt: pick instance -> breaker -> admission ->
breaker permit -> send -> read] under the retry policy -> map the final outcome to a response or
a kugel error.

The deadline is hard: one timer per call cancels whatever is in progress when it expires, so a
server that trickles its headers or body cannot hold a call past it. Each attempt's phase
timeouts are also capped at the time left once it is admitted, and a timeout that the caller's
deadline cut short says nothing about the dependency, so the breaker does not count it.

The pieces around the pipeline each have a module: the request guard (``_guard.py``), the
bounded body reader (``_body.py``), call logging (``_call_log.py``), cookie suppression
(``_cookies.py``), the retry loop (``_retry.py``) and hooks (``_hooks.py``).
"""

from __future__ import annotations

import asyncio
import functools
import random
from typing import TYPE_CHECKING

import httpx

from ._balancer import Balancer
from ._body import read_bounded
from ._breaker import BreakerState, CircuitBreaker, Permit
from ._breaker_store import BreakerStore
from ._budget import RetryBudget
from ._call import Call
from ._call_log import debug_enabled, log_attempt, log_budget_denied, log_retry
from ._clock import Clock
from ._cookies import SharedClient
from ._guard import RequestGuard, invalid_request, url_for
from ._hooks import BreakerChange, HookSet, RequestDetails, ResponseDetails, RetryDetails, emit
from ._limits import Admission
from ._metrics import EndpointMetrics, ServiceMetrics
from ._outcome import Failure, classify, to_error
from ._redact import redact_url
from ._registry import ServiceAddress
from ._retry import RetryRun
from ._tracing import client_meter, client_tracer
from .errors import CircuitOpenError, ResponseTooLargeError, WrongEventLoopError

__all__ = ["ServiceChannel"]

# Which configured phase timeout an httpx timeout exception reports.
_PHASES: tuple[tuple[type[httpx.TimeoutException], str], ...] = (
    (httpx.ConnectTimeout, "connect"),
    (httpx.ReadTimeout, "read"),
    (httpx.WriteTimeout, "write"),
    (httpx.PoolTimeout, "pool"),
)

if TYPE_CHECKING:
    from ._client_spans import CallSpans
    from ._settings import ClientSettings


class ServiceChannel:
    """Pool, breaker, retry budget, limits and metrics of one service, shared by all callers."""

    def __init__(
        self,
        address: ServiceAddress,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport,
        clock: Clock,
        hooks: HookSet,
        rng: random.Random,
        breaker_store: BreakerStore | None = None,
    ) -> None:
        self.name = address.name
        self.address = address
        self.settings = settings
        self.clock = clock
        self.hooks = hooks
        self.rng = rng
        self.metrics = ServiceMetrics(self.name, settings.max_endpoint_keys)
        self.auth: httpx.Auth | None = None
        self.balancer = Balancer(address.base_urls, settings.outlier_cooldown, clock)
        self.breaker = CircuitBreaker(
            self.name,
            settings.breaker_config(),
            clock,
            on_change=self._breaker_changed,
            rng=rng,
            store=breaker_store,
        )
        self.policy = settings.retry_policy()
        self.budget = RetryBudget(
            settings.retry_budget_ratio,
            settings.retry_budget_min_per_second,
            settings.retry_budget_window,
            clock,
        )
        self.admission = Admission(
            settings.max_in_flight, settings.rate_limit, settings.rate_period
        )
        self.client = SharedClient(
            transport=transport,
            headers={"User-Agent": settings.user_agent, **settings.headers, **address.headers},
            follow_redirects=False,
        )
        self.guard = RequestGuard(self.name, address.base_urls)
        self._phase_limits = {"connect": settings.connect_timeout, "read": settings.read_timeout,
                              "write": settings.write_timeout, "pool": settings.pool_timeout}
        self._longest_phase = max(self._phase_limits.values())
        self._extensions = {"trace": self.metrics.trace}
        self.tracer = client_tracer(self.name, settings.tracing)
        self.meter = client_meter(self.name)
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the pipeline ---------------------------------------------------------------------------

    async def send(self, call: Call) -> httpx.Response:
        """One call with retries; a response below 400, or a kugel error."""
        self._check_loop(call)
        self.guard.check(call)  # before metrics: a refused URL must not become a metric key
        spans = None if self.tracer is None else self.tracer.call(call)
        if spans is None:
            return await self._send(call, None)
        try:
            response = await self._send(call, spans)
        except BaseException as exc:
            spans.end(exc, len(call.tried), self.breaker)
            raise
        spans.end(response, len(call.tried), self.breaker)
        return response

    async def _send(self, call: Call, spans: CallSpans | None) -> httpx.Response:
        started = self.clock.now()
        endpoint_metrics = self.metrics.endpoint(call.template)
        endpoint_metrics.requests += 1
        self.budget.record_request()
        attempts = 0

        async def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return await self._attempt(call, attempts, spans)

        outcome: httpx.Response | BaseException
        try:
            async with asyncio.timeout(call.deadline - started):
                try:
                    outcome = await attempt()
                except (httpx.HTTPError, TimeoutError) as exc:
                    outcome = exc
                idempotency_key = call.idempotent or (
                    call.headers is not None and "idempotency-key" in call.headers
                )
                if self.policy.should_retry(call.method, idempotency_key, outcome):
                    outcome = await RetryRun(
                        policy=self.policy,
                        budget=self.budget,
                        clock=self.clock,
                        rng=self.rng,
                        method=call.method,
                        idempotency_key=idempotency_key,
                        deadline=call.deadline,
                        on_retry=functools.partial(self._on_retry, call, endpoint_metrics,
                                                   spans),
                        on_budget_denied=functools.partial(self._on_budget_denied,
                                                           endpoint_metrics, spans),
                    ).run(attempt, outcome)
        except (httpx.HTTPError, TimeoutError) as exc:
            outcome = exc
        except Exception as exc:  # kugel's own errors, and the caller's bugs, pass unchanged
            endpoint_metrics.failures[type(exc).__name__] += 1
            raise
        elapsed = self.clock.now() - started
        endpoint_metrics.observe(elapsed)
        if self.meter is not None:
            self.meter.record(elapsed, call.method, endpoint_metrics.template, call.tried[-1],
                              outcome)
        if isinstance(outcome, httpx.Response) and outcome.status_code < 400:
            endpoint_metrics.successes += 1
            return outcome
        failure = classify(outcome)
        endpoint_metrics.failures[failure.value if failure else "error"] += 1
        url = redact_url(url_for(call.endpoint, call.tried[-1]))
        error = to_error(outcome, service=self.name, method=call.method, url=url)
        if isinstance(outcome, httpx.Response):
            await outcome.aclose()
            raise error
        raise error from outcome

    async def _attempt(self, call: Call, attempt: int, spans: CallSpans | None) -> httpx.Response:
        base = self.balancer.pick(call.tried)
        call.tried.append(base)
        url = url_for(call.endpoint, base)
        try:  # a body JSON cannot encode, a query string too long for a URL
            request = self.client.build_request(
                call.method,
                url,
                params=call.params,
                json=call.json,
                data=call.data,
                content=call.content,
                headers=call.headers,
                extensions=self._extensions,
            )
        except (TypeError, ValueError, httpx.InvalidURL) as exc:
            raise invalid_request(self.name, call, f"the request cannot be built: {exc}",
                                  url) from exc
        if spans is None:
            return await self._admitted(call, request, base, attempt)
        span = spans.attempt(request, attempt, self.breaker)
        try:
            response = await self._admitted(call, request, base, attempt)
        except BaseException as exc:
            spans.end_attempt(span, exc)
            raise
        spans.end_attempt(span, response)
        return response

    async def _admitted(
        self, call: Call, request: httpx.Request, base: str, attempt: int
    ) -> httpx.Response:
        """The attempt once built: breaker, deadline, a slot, then the exchange."""
        if self.breaker.rejects():  # fail fast, without queueing for a slot first
            raise self._circuit_open(call, request)
        remaining = call.deadline - self.clock.now()
        if remaining <= 0:
            raise TimeoutError("deadline exceeded before the attempt")
        await self.admission.acquire(remaining)
        try:
            permit = self.breaker.try_acquire()
            if permit is None:
                raise self._circuit_open(call, request)
            remaining = call.deadline - self.clock.now()  # the wait for a slot took some
            request.extensions["timeout"] = self._timeout(remaining)
            return await self._exchange(call, request, permit, base, attempt, remaining)
        finally:
            self.admission.release()

    def _circuit_open(self, call: Call, request: httpx.Request) -> CircuitOpenError:
        self.metrics.endpoint(call.template).breaker_rejections += 1
        return CircuitOpenError(
            f"{self.name}: circuit open, failing fast",
            service=self.name,
            method=call.method,
            url=redact_url(request.url),
            retry_after=self.breaker.retry_after(),
        )

    async def _exchange(
        self, call: Call, request: httpx.Request, permit: Permit, base: str, attempt: int,
        remaining: float,
    ) -> httpx.Response:
        hooks = self.hooks
        info = None
        if hooks.request or hooks.response or debug_enabled():
            url = redact_url(request.url)
            info = RequestDetails(self.name, call.method, url, call.template, attempt)
            emit(hooks.request, info)
        started = self.clock.now()
        try:
            response = await self.client.send(
                request, auth=call.auth or self.auth or httpx.USE_CLIENT_DEFAULT, stream=True
            )
            if not call.stream or response.status_code >= 400:
                response = await read_bounded(
                    response, self.settings.max_response_bytes,
                    functools.partial(self._too_large, call, response))
        except BaseException as exc:
            self.breaker.record(permit, self._judge(exc, remaining))
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                self.balancer.eject(base)
            if info is not None:
                self._log(info, None, exc, started)
            raise
        healthy = classify(response) is not Failure.STATUS or (
            call.caller_fault is not None and call.caller_fault(response))
        self.breaker.record(permit, healthy)
        if info is not None:
            self._log(info, response, None, started, streamed=call.stream)
        return response

    def _judge(self, exc: BaseException, remaining: float) -> bool | None:
        """False when a failed exchange says the dependency is sick; None when it says nothing:
        a cancellation, a bug, or a timeout shortened to fit the caller's own deadline."""
        if classify(exc) is None:
            return None
        for kind, phase in _PHASES:
            if isinstance(exc, kind):
                return None if remaining < self._phase_limits[phase] else False
        return False

    def _too_large(self, call: Call, response: httpx.Response, size: int) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"{self.name}: response of at least {size} bytes passes max_response_bytes="
            f"{self.settings.max_response_bytes}",
            service=self.name,
            method=call.method,
            url=redact_url(response.request.url),
            status_code=response.status_code,
        )

    # -- helpers --------------------------------------------------------------------------------

    def _check_loop(self, call: Call) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise WrongEventLoopError(
                f"{self.name}: this pool belongs to another event loop; create a "
                "ServiceClientPool (or a container) per event loop",
                service=self.name, method=call.method)

    def _timeout(self, remaining: float) -> dict[str, float]:
        """The transport's ``timeout`` extension: each phase capped at the time left."""
        if remaining >= self._longest_phase:
            return self._phase_limits
        return {phase: min(limit, remaining) for phase, limit in self._phase_limits.items()}

    def _log(
        self,
        info: RequestDetails,
        response: httpx.Response | None,
        error: BaseException | None,
        started: float,
        streamed: bool = False,
    ) -> None:
        elapsed = self.clock.now() - started
        status = response.status_code if response is not None else None
        emit(self.hooks.response,
             ResponseDetails(info.service, info.method, info.url, info.endpoint, info.attempt,
                             elapsed, status, error))
        log_attempt(self.name, info.method, info.url, info.attempt, elapsed, response, error,
                    log_bodies=self.settings.log_bodies, streamed=streamed)

    def _on_retry(
        self,
        call: Call,
        metrics: EndpointMetrics,
        spans: CallSpans | None,
        attempt: int,
        error: httpx.Response | BaseException,
        delay: float,
    ) -> None:
        metrics.retries += 1
        if spans is not None:
            spans.retrying(error)
        log_retry(self.name, call.method, call.template, attempt, error, delay)
        if self.hooks.retry:
            url = redact_url(url_for(call.endpoint, call.tried[-1]))
            emit(self.hooks.retry, RetryDetails(self.name, call.method, call.template, url,
                                                attempt, delay, error))

    def _on_budget_denied(self, metrics: EndpointMetrics, spans: CallSpans | None) -> None:
        metrics.budget_denials += 1
        if spans is not None:
            spans.budget_denied()
        log_budget_denied(self.name)

    def _breaker_changed(self, service: str, old: BreakerState, new: BreakerState) -> None:
        self.metrics.breaker_transitions[new.value] += 1
        emit(self.hooks.breaker, BreakerChange(service, old, new))

    async def aclose(self) -> None:
        await self.breaker.aclose()
        await self.client.aclose()
