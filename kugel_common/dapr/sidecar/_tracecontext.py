"""W3C trace context as daprd reads and writes it, passed through unchanged in meaning.

daprd's tracing middleware (diagnostics ``HTTPTraceMiddleware``, on unless the configuration's
``samplingRate`` is ``"0"``) reads the request's ``traceparent`` (``SpanContextFromRequest``,
``SpanContextFromW3CString``) and starts a span under it. With no exporter configured (the
default, and always here) no tracer provider is set, and OpenTelemetry's global tracer gives a
non-recording span that keeps its parent's span context: every hop carries the caller's trace
id and span id, re-written in daprd's form (``SpanContextToW3CString``: version ``00``). With an
exporter daprd starts child spans instead: same trace id, its own span ids.

What daprd then does with that context, and this sidecar too:

- publish and bulk publish: the CloudEvent's ``traceid`` and ``traceparent`` are it, and
  ``tracestate`` the request's (``TraceIDAndStateFromSpan``; ``cloudevent.*`` metadata
  overrides still win);
- the transactional outbox: its ``traceid`` is it, ``traceparent`` stays empty (outbox
  ``PublishInternal``);
- delivery: the app's ``traceparent`` header is the event's ``traceparent`` field (or
  ``traceid`` when the event has no ``traceparent``), when it parses (postman ``Deliver``,
  HTTP channel ``constructRequest``); a bulk delivery's is its last entry's;
- service invocation: the target app gets the context (messaging ``InternalMetadataToHTTPHeader``
  and ``constructRequest``); a ``traceparent`` that does not parse goes as sent;
- every API response but ``/healthz`` answers it in ``traceparent`` (and ``tracestate`` up to
  512 characters), unless the response has its own.

A ``traceparent`` that does not parse, or a ``tracestate`` that does not, counts as none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["MAX_TRACESTATE", "SpanContext", "bulk_traceparent", "event_traceparent",
           "invocation_headers", "request_context", "trace_fields"]

_MAX_VERSION = 254
MAX_TRACESTATE = 512
_LOWER_HEX = re.compile(r"[0-9a-f]*")
_ANY_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_SIMPLE_KEY = r"[a-z][_0-9a-z\-*/]{0,255}"
_TENANT_KEY = r"[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13}"
_KEY = re.compile(f"(?:{_SIMPLE_KEY}|{_TENANT_KEY})")
_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
_MAX_MEMBERS = 32


@dataclass(frozen=True, slots=True)
class SpanContext:
    """A valid span context: ids in lower-case hex, the flags byte, the tracestate as Go
    writes it back (empty for none)."""

    trace_id: str
    span_id: str
    flags: int
    tracestate: str = ""

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"


def parse_traceparent(value: str, tracestate: str = "") -> SpanContext | None:
    """``SpanContextFromW3CString``: four ``-`` parts for version 00, more allowed for later
    versions up to 254; ids in lower-case hex (OpenTelemetry-Go's ``TraceIDFromHex``), not
    all zero; flags are the first byte of the fourth part."""
    parts = value.split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or not _ANY_HEX.fullmatch(parts[0]):
        return None
    version = int(parts[0], 16)
    if version > _MAX_VERSION or (version == 0 and len(parts) != 4):
        return None
    trace_id, span_id, flags = parts[1], parts[2], parts[3]
    if len(trace_id) != 32 or len(span_id) != 16 or not (
            _LOWER_HEX.fullmatch(trace_id) and _LOWER_HEX.fullmatch(span_id)):
        return None
    if not flags or not _ANY_HEX.fullmatch(flags):
        return None
    if int(trace_id, 16) == 0 or int(span_id, 16) == 0:
        return None
    return SpanContext(trace_id, span_id, int(flags[:2], 16), parse_tracestate(tracestate))


def parse_tracestate(value: str) -> str:
    """OpenTelemetry-Go's ``ParseTraceState`` then ``String``: members split on ``,``
    (empty ones skipped), ``key=value`` with spaces and tabs trimmed outside, at most 32, no
    key twice; anything else makes the whole tracestate empty."""
    members: dict[str, str] = {}
    for member in value.split(","):
        if not member:
            continue
        key, equals, val = member.partition("=")
        key, val = key.lstrip(" \t"), val.rstrip(" \t")
        if not equals or not _KEY.fullmatch(key) or not _VALUE.fullmatch(val) or key in members:
            return ""
        members[key] = val
        if len(members) > _MAX_MEMBERS:
            return ""
    return ",".join(f"{key}={val}" for key, val in members.items())


def request_context(headers: Mapping[str, str]) -> SpanContext | None:
    """``SpanContextFromRequest``: the first ``traceparent`` header, with the ``tracestate``."""
    return parse_traceparent(headers.get("traceparent", ""), headers.get("tracestate", ""))


def trace_fields(context: SpanContext | None) -> tuple[str, str]:
    """``TraceIDAndStateFromSpan``: (traceparent, tracestate) for a CloudEvent, or empty."""
    if context is None:
        return "", ""
    return context.traceparent, context.tracestate


def invocation_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The trace headers the target app gets from an invocation: the caller's ``traceparent``
    as daprd writes a span context back when it parses, else as sent; its ``tracestate`` as
    sent, only with a ``traceparent`` (messaging ``processHTTPToHTTPTraceHeaders``, then the
    HTTP channel replacing ``traceparent`` with the callee's span context)."""
    sent = headers.get("traceparent", "")
    if not sent:
        return []
    context = request_context(headers)
    found = [("traceparent", sent if context is None else context.traceparent)]
    state = headers.get("tracestate", "")
    return [*found, ("tracestate", state)] if state else found


def event_traceparent(event: object) -> str | None:
    """The ``traceparent`` header daprd sends with a delivered event: its ``traceparent``
    field, or ``traceid`` when that is absent or null, if it parses; None leaves the
    message's own headers."""
    value = _trace_field(event)
    context = parse_traceparent(value) if value is not None else None
    return None if context is None else context.traceparent


def bulk_traceparent(events: Iterable[object]) -> str | None:
    """A bulk delivery's: daprd starts each entry's span on the context of the one before
    (postman ``DeliverBulk``), so the last entry with a string trace field decides."""
    found: str | None = None
    for event in events:
        if _trace_field(event) is not None:
            found = event_traceparent(event)
    return found


def _trace_field(event: object) -> str | None:
    if not isinstance(event, dict):
        return None
    value = event.get("traceparent")
    if value is None:
        value = event.get("traceid")
    return value if isinstance(value, str) else None
