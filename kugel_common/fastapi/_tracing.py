"""Incoming requests continue the caller's trace: one SERVER span per request.

Why kugel's own middleware rather than opentelemetry-instrumentation-fastapi: that package
wraps every ASGI send and receive in spans of their own and pulls in the ASGI instrumentation
and its dependencies; kugel needs one span per request with the HTTP semantic conventions'
attributes, and the context attached while the endpoint runs, so that kugel's outbound calls
become its children. This is one header scan, one span and one context attach per request.

FastAPI releases with native OpenTelemetry (the ``fastapi.telemetry`` package: a SERVER span per
request on the global provider) already do this, so ``create_app`` installs this middleware
only on releases without it: a request never gets two SERVER spans. Those releases record the
query string word for word in ``url.query`` (only cloud storage signatures redacted) and have no
setting to change it, so there ``create_app`` installs ``QueryRedaction`` instead, which
overwrites it while the span is open. Either way a request with a query string gets
``url.query = "[redacted]"``: the query is where credentials hide (``?access_token=``), and
kugel records none of it, as client spans' ``url.full`` has none.

The span is named ``{method} {route}`` (``GET /items/{code}``) once the router has matched,
``{method}`` alone when no route did (a 404), as the conventions ask: a raw path would make one
name per item. The application configures the SDK; without one the API's no-op tracer answers.
Only imported when opentelemetry-api is installed.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._redact import REDACTED
from .._version import __version__

__all__ = ["QueryRedaction", "TracingMiddleware", "native_tracing"]


def native_tracing() -> bool:
    """Whether this FastAPI opens SERVER spans itself."""
    return importlib.util.find_spec("fastapi.telemetry") is not None


class TracingMiddleware:
    """Extracts the caller's trace context and serves the request inside a SERVER span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tracer = trace.get_tracer("kugel_common.fastapi", __version__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope["headers"]}
        method = scope["method"]
        span = self._tracer.start_span(
            method, context=propagate.extract(carrier), kind=SpanKind.SERVER,
            attributes=_request_attributes(scope, method))
        status: int | None = None

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send_with_status)
        except BaseException as exc:
            if span.is_recording():
                _failed(span, type(exc).__qualname__)
            raise
        finally:
            context.detach(token)
            if span.is_recording():
                _finish(span, scope, method, status)
            span.end()


class QueryRedaction:
    """Overwrites ``url.query`` on FastAPI's native SERVER span, current while the request runs
    and still open, so the query string never reaches an exporter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            span = trace.get_current_span()
            # The SDK's spans tell their kind, the API's no-op span does not: only a SERVER
            # span is the request's (with FastAPI's tracing off, it may be an in-process caller's).
            if getattr(span, "kind", None) is SpanKind.SERVER:
                span.set_attribute("url.query", REDACTED)
        await self.app(scope, receive, send)


def _request_attributes(scope: Scope, method: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"http.request.method": method, "url.path": scope["path"],
                                  "url.scheme": scope.get("scheme", "http")}
    if scope.get("query_string"):
        attributes["url.query"] = REDACTED
    server = scope.get("server")
    if server:
        attributes["server.address"] = server[0]
        if server[1] is not None:  # None for a Unix socket, or an in-process test transport
            attributes["server.port"] = server[1]
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
    return attributes


def _failed(span: Span, error_type: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


def _finish(span: Span, scope: Scope, method: str, status: int | None) -> None:
    """Route and status are known once the app has run."""
    route = _route_template(scope)
    if route is not None:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            _failed(span, str(status))


def _route_template(scope: Scope) -> str | None:
    """FastAPI's routes, and Starlette's after 0.40, put themselves in the scope; on older
    Starlette the route is found again as its router found it."""
    route = scope.get("route")
    if route is None:
        routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
        route = next((r for r in routes if r.matches(scope)[0] is Match.FULL), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None
