"""OpenTelemetry spans of events: the outbox's PRODUCER span, a subscriber's CONSUMER span.

Following the OpenTelemetry messaging semantic conventions: the relay publishes each event
inside a PRODUCER span ``publish {topic}`` whose parent is the context stored with the event
when it was recorded, so the Dapr publish call (a CLIENT span, which sends ``traceparent``)
is its child, however late or after however many restarts the event goes out. A subscriber
handles an event inside a CONSUMER span ``process {topic}`` whose parent is the context the
event carries: its ``traceparent`` field (daprd sets it from the publish request's header),
else its ``traceid`` field (daprd's outbox fills only that one), else the delivery's headers.
Both carry ``messaging.system`` (``dapr``), ``messaging.operation.type``,
``messaging.destination.name`` (the topic), ``messaging.message.id`` (the event id) and
``kugel.pubsub``; the relay's also ``kugel.attempt`` and ``kugel.outbox``, and
``IdempotentConsumer.apply`` adds ``kugel.consumer.duplicate`` to the span it runs in.

Only imported when opentelemetry-api is installed (``_tracing.otel_installed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._version import __version__

__all__ = ["consumer_span", "current_carrier", "mark_duplicate", "producer_span"]

_W3C = TraceContextTextMapPropagator()


def _tracer() -> trace.Tracer:
    """Asked for each event, not kept: cheap next to a publish or a delivery, and always the
    provider in place now."""
    return trace.get_tracer("kugel_common.dapr", __version__)


def current_carrier() -> dict[str, str] | None:
    """The current context as the configured propagator writes it (W3C ``traceparent`` and
    ``tracestate`` by default); None when there is nothing to carry (no active span)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


@contextlib.contextmanager
def producer_span(carrier: Mapping[str, str] | None, *, pubsub: str, topic: str,
                  event_id: str, attempt: int, outbox: str) -> Iterator[Span]:
    """The relay's publish of one event, under the context recorded with it."""
    parent = propagate.extract(carrier) if carrier else context.Context()
    span = _tracer().start_span(
        f"publish {topic}", context=parent, kind=SpanKind.PRODUCER,
        attributes={**_messaging(pubsub, topic, event_id, "publish"),
                    "kugel.attempt": attempt, "kugel.outbox": outbox})
    with _active(span):
        yield span


@contextlib.contextmanager
def consumer_span(event: Mapping[str, Any], headers: Mapping[str, str], *, pubsub: str,
                  topic: str) -> Iterator[Span]:
    """A handler's processing of one delivered event, continuing the publisher's trace."""
    event_id = event.get("id")
    span = _tracer().start_span(
        f"process {topic}", context=_event_context(event, headers), kind=SpanKind.CONSUMER,
        attributes=_messaging(pubsub, topic, event_id if isinstance(event_id, str) else "",
                              "process"))
    with _active(span):
        yield span


def mark_duplicate(duplicate: bool) -> None:
    """``kugel.consumer.duplicate`` on the current span (the consumer's): whether the event
    was applied before and skipped."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("kugel.consumer.duplicate", duplicate)


@contextlib.contextmanager
def _active(span: Span) -> Iterator[None]:
    """The span is current while the block runs; an escaping error marks it ERROR."""
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield
    except BaseException as exc:
        if span.is_recording():
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
        raise
    finally:
        context.detach(token)
        span.end()


def _event_context(event: Mapping[str, Any], headers: Mapping[str, str]) -> context.Context:
    """The delivery's SERVER span when it continues the event's trace (then the handler nests
    under the request that brought the event), else the event's own context."""
    found = _carried_context(event, headers)
    current = trace.get_current_span().get_span_context()
    if current.is_valid and current.trace_id == trace.get_current_span(
            found).get_span_context().trace_id:
        return context.get_current()
    return found


def _carried_context(event: Mapping[str, Any], headers: Mapping[str, str]) -> context.Context:
    """The parent from the event's trace fields (W3C by definition), else the headers (the
    application's propagator). A field that does not parse is ignored, never an error."""
    state = event.get("tracestate")
    for name in ("traceparent", "traceid"):
        value = event.get(name)
        if isinstance(value, str) and value:
            carrier = {"traceparent": value}
            if isinstance(state, str) and state:
                carrier["tracestate"] = state
            found = _W3C.extract(carrier)
            if trace.get_current_span(found).get_span_context().is_valid:
                return found
    return propagate.extract(headers)


def _messaging(pubsub: str, topic: str, event_id: str, operation: str) -> dict[str, Any]:
    return {"messaging.system": "dapr", "messaging.operation.type": operation,
            "messaging.operation.name": operation, "messaging.destination.name": topic,
            "messaging.message.id": event_id, "kugel.pubsub": pubsub}
