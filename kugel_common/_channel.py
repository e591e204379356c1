"""The call pipeline for one service, and the state that every caller of that service shares.

One call: check the request -> deadline -> [attempt: pick instance -> breaker -> admission ->
breaker permit -> send -> read] under the retry policy -> map the final outcome to a response or
a kugel error.

The deadline is hard: one timer per call cancels whatever is in progress when it expires, so a
server that trickles its headers or body cannot hold a call past it. Each attempt's phase
timeouts are also capped at the time left once it is admitted, and a timeout that the caller's
deadline cut short says nothing about the dependency, so the breaker does not count it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpx

from ._balancer import Balancer
from ._breaker import BreakerState, CircuitBreaker, Permit
from ._budget import RetryBudget
from ._clock import Clock
from ._hooks import Hooks, RequestInfo, ResponseInfo, call_hook
from ._limits import Admission
from ._metrics import EndpointMetrics, ServiceMetrics
from ._outcome import Failure, classify, to_error
from ._redact import redact_body, redact_headers, redact_url
from ._registry import ServiceAddress
from ._retry import RetryRun
from ._settings import ClientSettings
from .errors import (
    CircuitOpenError,
    InvalidEndpointError,
    InvalidRequestError,
    ResponseTooLargeError,
    WrongEventLoopError,
)

__all__ = ["Call", "ServiceChannel"]

logger = logging.getLogger("kugel_common.http")

QueryParams = Mapping[str, Any]

# RFC 9110: a field name is a token; a value holds no CR, LF, NUL or other control character.
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
# Which configured phase timeout an httpx timeout exception reports.
_PHASES: tuple[tuple[type[httpx.TimeoutException], str], ...] = (
    (httpx.ConnectTimeout, "connect"),
    (httpx.ReadTimeout, "read"),
    (httpx.WriteTimeout, "write"),
    (httpx.PoolTimeout, "pool"),
)


@dataclass(slots=True)
class Call:
    """One logical call, as the caller asked for it. Attempts may differ in instance and time."""

    method: str
    endpoint: str
    template: str
    params: QueryParams | None
    json: Any
    data: Any
    content: bytes | None
    headers: httpx.Headers | None
    auth: httpx.Auth | None
    deadline: float
    stream: bool
    idempotent: bool = False  # the caller vouches that a resend is harmless, whatever the method
    # A 5xx reply that reports the request's own fault (e.g. a Dapr errorCode), not a sick server:
    # it must not count against the breaker.
    caller_fault: Callable[[httpx.Response], bool] | None = None
    tried: list[str] = field(default_factory=list)


class ServiceChannel:
    """Pool, breaker, retry budget, limits and metrics of one service, shared by all callers."""

    def __init__(
        self,
        address: ServiceAddress,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport,
        clock: Clock,
        hooks: Hooks,
        rng: random.Random,
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
        self.client = _SharedClient(
            transport=transport,
            headers={"User-Agent": settings.user_agent, **settings.headers, **address.headers},
            follow_redirects=False,
        )
        self._bases = {(_origin(parsed), parsed.path.rstrip("/"))
                       for parsed in map(httpx.URL, address.base_urls)}
        self._phase_limits = {"connect": settings.connect_timeout, "read": settings.read_timeout,
                              "write": settings.write_timeout, "pool": settings.pool_timeout}
        self._longest_phase = max(self._phase_limits.values())
        self._extensions = {"trace": self._trace}
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the pipeline ---------------------------------------------------------------------------

    async def send(self, call: Call) -> httpx.Response:
        """One call with retries; a response below 400, or a kugel error."""
        self._check_loop(call)
        self._check_request(call)  # before metrics: a refused URL must not become a metric key
        started = self.clock.now()
        endpoint_metrics = self.metrics.endpoint(call.template)
        endpoint_metrics.requests += 1
        self.budget.record_request()
        attempts = 0

        async def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return await self._attempt(call, attempts)

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
                        on_retry=functools.partial(self._on_retry, call, endpoint_metrics),
                        on_budget_denied=functools.partial(self._on_budget_denied,
                                                           endpoint_metrics),
                    ).run(attempt, outcome)
        except (httpx.HTTPError, TimeoutError) as exc:
            outcome = exc
        except Exception as exc:  # kugel's own errors, and the caller's bugs, pass unchanged
            endpoint_metrics.failures[type(exc).__name__] += 1
            raise
        endpoint_metrics.latencies.append(self.clock.now() - started)
        if isinstance(outcome, httpx.Response) and outcome.status_code < 400:
            endpoint_metrics.successes += 1
            return outcome
        failure = classify(outcome)
        endpoint_metrics.failures[failure.value if failure else "error"] += 1
        url = redact_url(self._url(call, call.tried[-1]))
        error = to_error(outcome, service=self.name, method=call.method, url=url)
        if isinstance(outcome, httpx.Response):
            await outcome.aclose()
            raise error
        raise error from outcome

    async def _attempt(self, call: Call, attempt: int) -> httpx.Response:
        base = self.balancer.pick(call.tried)
        call.tried.append(base)
        url = self._url(call, base)
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
            raise self._invalid(call, f"the request cannot be built: {exc}", url) from exc
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
        if hooks.on_request or hooks.on_response or logger.isEnabledFor(logging.DEBUG):
            url = redact_url(request.url)
            info = RequestInfo(self.name, call.method, url, call.template, attempt)
            call_hook(hooks.on_request, info)
        started = self.clock.now()
        try:
            response = await self.client.send(
                request, auth=call.auth or self.auth or httpx.USE_CLIENT_DEFAULT, stream=True
            )
            if not call.stream or response.status_code >= 400:
                await self._read(response, call)
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

    async def _read(self, response: httpx.Response, call: Call) -> None:
        """Buffer the body, refusing to hold more than ``max_response_bytes`` decoded bytes."""
        limit = self.settings.max_response_bytes
        declared = response.headers.get("content-length")
        chunks: list[bytes] = []
        size = 0
        try:
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise self._too_large(call, response, int(declared))
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self._too_large(call, response, size)
                chunks.append(chunk)
        except BaseException:
            await response.aclose()
            raise
        # httpx's own aread() stores the body the same way; doing it here lets us stop early.
        response._content = b"".join(chunks)
        await response.aclose()

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

    def _check_request(self, call: Call) -> None:
        """Refuse, before any I/O, what only the caller can fix: so it is never sent, retried
        or counted against the dependency."""
        endpoint = call.endpoint
        if _is_absolute(endpoint):
            self._check_origin(call)
        try:
            url = self._url(call, self.address.base_urls[0])
        except httpx.InvalidURL as exc:
            raise self._invalid(call, f"the URL cannot be built: {exc}") from exc
        if _has_dot_segment(endpoint):
            shown = redact_url(_parsed(endpoint))
            raise InvalidEndpointError(
                f"{self.name}: endpoint {shown!r} has a dot segment; it would leave the "
                "service's base path", service=self.name, method=call.method, url=shown)
        if call.headers is not None:
            for name, value in call.headers.raw:
                if not (_FIELD_NAME.fullmatch(name) and _FIELD_VALUE.fullmatch(value)):
                    raise self._invalid(
                        call, f"header {name.decode('latin-1')!r} has a character HTTP forbids "
                        "(CR, LF, NUL or another control character)", url)

    def _invalid(
        self, call: Call, reason: str, url: httpx.URL | None = None
    ) -> InvalidRequestError:
        """The URL, when there is one, is redacted like every error's."""
        return InvalidRequestError(f"{self.name}: {call.method} {call.template!r}: {reason}",
                                   service=self.name, method=call.method,
                                   url=redact_url(url) if url is not None else "")

    def _check_origin(self, call: Call) -> None:
        """An absolute endpoint is allowed only under one of the service's own base URLs:
        same origin and under its base path, so it cannot reach the host's other APIs (a
        sidecar's state API, with its token)."""
        endpoint = call.endpoint
        parts = urlsplit(endpoint)
        target = httpx.URL(endpoint if parts.scheme else "http:" + endpoint)
        path = target.path
        if not (parts.scheme and any(
            _origin(target) == origin and (path == base or path.startswith(base + "/"))
            for origin, base in self._bases
        )):
            raise InvalidEndpointError(
                f"{self.name}: endpoint {redact_url(target)!r} is not a relative path; "
                "absolute URLs would bypass service discovery",
                service=self.name,
                method=call.method,
                url=redact_url(target),
            )

    def _url(self, call: Call, base: str) -> httpx.URL:
        endpoint = call.endpoint
        if _is_absolute(endpoint):  # its origin was checked in send()
            return _parsed(endpoint)
        if not endpoint or endpoint.startswith("/"):
            return _parsed(base + endpoint)
        return _parsed(f"{base}/{endpoint}")

    def _timeout(self, remaining: float) -> dict[str, float]:
        """The transport's ``timeout`` extension: each phase capped at the time left."""
        if remaining >= self._longest_phase:
            return self._phase_limits
        return {phase: min(limit, remaining) for phase, limit in self._phase_limits.items()}

    async def _trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            self.metrics.connections_opened += 1

    def _log(
        self,
        info: RequestInfo,
        response: httpx.Response | None,
        error: BaseException | None,
        started: float,
        streamed: bool = False,
    ) -> None:
        elapsed = self.clock.now() - started
        status = response.status_code if response is not None else None
        call_hook(
            self.hooks.on_response,
            ResponseInfo(info.service, info.method, info.url, info.endpoint, info.attempt,
                         elapsed, status, error),
        )
        if not logger.isEnabledFor(logging.DEBUG):
            return
        outcome = status if error is None else type(error).__name__
        logger.debug(
            "%s %s %s -> %s (attempt %d, %.1f ms)",
            info.service, info.method, httpx.URL(info.url).path, outcome, info.attempt,
            elapsed * 1000,
            extra={"service": info.service, "method": info.method, "status": status,
                   "attempt": info.attempt, "latency_ms": elapsed * 1000},
        )
        if self.settings.log_bodies and response is not None:
            request = response.request
            logger.debug(
                "%s request headers=%s body=%s; response headers=%s body=%s",
                self.name,
                redact_headers(request.headers.multi_items()),
                _redacted_json(request.content),
                redact_headers(response.headers.multi_items()),
                "<stream>" if streamed else _redacted_json(response.content),
            )

    def _on_retry(
        self,
        call: Call,
        metrics: EndpointMetrics,
        attempt: int,
        error: httpx.Response | BaseException,
        delay: float,
    ) -> None:
        metrics.retries += 1
        reason = error.status_code if isinstance(error, httpx.Response) else type(error).__name__
        logger.info(
            "%s %s %s: attempt %d got %s, retrying in %.3f s",
            self.name, call.method, call.template, attempt, reason, delay,
        )
        call_hook(self.hooks.on_retry, attempt, error, delay)

    def _on_budget_denied(self, metrics: EndpointMetrics) -> None:
        metrics.budget_denials += 1
        logger.info("%s: retry budget exhausted, not retrying", self.name)

    def _breaker_changed(self, service: str, old: BreakerState, new: BreakerState) -> None:
        self.metrics.breaker_transitions[new.value] += 1
        call_hook(self.hooks.on_breaker_change, service, old, new)

    async def aclose(self) -> None:
        await self.client.aclose()


class _NoCookies(httpx.Cookies):
    """Always empty: skipping cookielib also saves a tenth of each call's cost."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _SharedClient(httpx.AsyncClient):
    """The pool is shared by every caller, so a cookie set for one must not reach another."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NoCookies()

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("kugel's shared clients keep no cookies; send a Cookie header per call")


R = TypeVar("R")


def _cached_when_short(function: Callable[[str], R]) -> Callable[[str], R]:
    """Cache a pure function of a URL or endpoint, which repeat; only for strings of a sane
    length, so that a caller's giant URLs cannot fill memory."""
    cached = functools.lru_cache(maxsize=1024)(function)
    return lambda text: cached(text) if len(text) <= 2048 else function(text)


@_cached_when_short
def _is_absolute(endpoint: str) -> bool:
    """Whether an endpoint names a host: ``http://h/x``, ``//h/x``."""
    parts = urlsplit(endpoint)
    return bool(parts.netloc) or parts.scheme.lower() in ("http", "https")


@_cached_when_short
def _has_dot_segment(endpoint: str) -> bool:
    """``..`` or ``.`` as a path segment, percent-encoded or not (``a/../b``, ``a/%2e%2E/b``),
    also where a decoded ``/`` or a ``\\`` would make one (``..%2fadmin``, ``..\\admin``): a
    server or proxy that decodes them first would resolve it."""
    path = endpoint.partition("?")[0].partition("#")[0]
    pieces = re.split(r"[/\\]", unquote(path))
    return any(piece in (".", "..") for piece in pieces)


@_cached_when_short
def _parsed(url: str) -> httpx.URL:
    """httpx.URL is immutable, and parsing it is a tenth of a call's cost."""
    return httpx.URL(url)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _redacted_json(content: bytes) -> str:
    if not content:
        return "<empty>"
    try:
        return json.dumps(redact_body(json.loads(content)))
    except ValueError:
        return f"<{len(content)} bytes, not JSON>"
