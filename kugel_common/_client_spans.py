"""OpenTelemetry spans of kugel's calls: one CLIENT span per logical call, one per attempt.

The attempt spans are the HTTP client spans of the OpenTelemetry semantic conventions (one per
request sent, ``http.request.resend_count`` on resends), children of the call's span, which
covers the retries, backoff sleeps and breaker decisions between them. Both are named
``{method} {url.template}`` (``GET /items/{code}``) and carry kugel's own attributes:
``kugel.service``, ``kugel.attempt``, ``kugel.retry.reason`` (what the previous attempt got),
``kugel.breaker.state``, ``kugel.budget.denied``.

Each attempt's request carries its own span's context, written by
``opentelemetry.propagate.inject``: W3C ``traceparent``/``tracestate`` unless the application
configured another propagator. Attributes past the sampling-relevant few are only computed for a
span that records, so with no SDK configured (the API's no-op tracer) a call costs little more
than without tracing (``bench/tracing.py``). Only imported when opentelemetry-api is installed.
"""

from __future__ import annotations

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from ._breaker import CircuitBreaker
from ._call import Call
from ._outcome import outcome_name, status_and_error_type
from ._redact import redact_url
from ._version import __version__

__all__ = ["CallSpans", "ClientTracer", "end_span", "server_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ClientTracer:
    """The tracer of one service's channel."""

    __slots__ = ("_tracer", "service")

    def __init__(self, service: str) -> None:
        self.service = service
        # A proxy until the application sets a provider: spans start recording from then on.
        self._tracer = trace.get_tracer("kugel_common", __version__)

    def call(self, call: Call) -> CallSpans | None:
        """Open the span of one logical call, a child of the current context; None when no SDK
        is configured (the no-op tracer's invalid span: no child would be valid, no context
        would be sent), so the call goes on as if untraced."""
        name = f"{call.method} {call.template}"
        span = self._tracer.start_span(
            name, kind=SpanKind.CLIENT,
            attributes={"http.request.method": call.method, "url.template": call.template,
                        "kugel.service": self.service})
        if span is INVALID_SPAN:
            return None
        return CallSpans(self._tracer, span, name, call.template, self.service)


class CallSpans:
    """The spans of one logical call: its own, and one per attempt beneath it."""

    __slots__ = ("_parent", "_tracer", "name", "retry_reason", "service", "span", "template")

    def __init__(self, tracer: trace.Tracer, span: Span, name: str, template: str,
                 service: str) -> None:
        self._tracer = tracer
        self.span = span
        self.name = name
        self.template = template
        self.service = service
        self._parent = trace.set_span_in_context(span)
        self.retry_reason: str | None = None

    def attempt(self, request: httpx.Request, attempt: int, breaker: CircuitBreaker) -> Span:
        """Open an attempt's span and write its context into the request's headers."""
        url = request.url
        host, port = server_of(url)
        span = self._tracer.start_span(
            self.name, context=self._parent, kind=SpanKind.CLIENT,
            attributes={"http.request.method": request.method, "server.address": host,
                        "server.port": port, "kugel.attempt": attempt})
        if span.is_recording():
            full = redact_url(url)
            attributes: dict[str, str | int] = {
                "url.full": full, "url.template": self.template, "kugel.service": self.service,
                "kugel.breaker.state": breaker.state.value}
            if attempt > 1:
                attributes["http.request.resend_count"] = attempt - 1
                if self.retry_reason is not None:
                    attributes["kugel.retry.reason"] = self.retry_reason
            span.set_attributes(attributes)
            if attempt == 1 and self.span.is_recording():
                self.span.set_attributes({"url.full": full, "server.address": host,
                                          "server.port": port})
        propagate.inject(request.headers, context=trace.set_span_in_context(span))
        return span

    def end_attempt(self, span: Span, outcome: httpx.Response | BaseException) -> None:
        end_span(span, outcome)

    def retrying(self, cause: httpx.Response | BaseException) -> None:
        """The failed outcome that the next attempt retries."""
        self.retry_reason = outcome_name(cause)

    def budget_denied(self) -> None:
        self.span.set_attribute("kugel.budget.denied", True)

    def end(self, outcome: httpx.Response | BaseException, attempts: int,
            breaker: CircuitBreaker) -> None:
        """Close the call's span with its final outcome: a response or the error raised."""
        span = self.span
        if span.is_recording():
            span.set_attribute("kugel.attempt", attempts)
            if isinstance(outcome, BaseException):
                span.set_attribute("kugel.breaker.state", breaker.state.value)
        end_span(span, outcome)


def end_span(span: Span, outcome: httpx.Response | BaseException) -> None:
    """Status code, ``error.type`` and an ERROR status for a failed outcome; then end."""
    if span.is_recording():
        status, error_type = status_and_error_type(outcome)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR) if status is not None
                            else Status(StatusCode.ERROR, error_type))
    span.end()


def server_of(url: httpx.URL) -> tuple[str, int]:
    """``server.address`` and ``server.port``: the port the scheme implies when none is given."""
    return url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0)
