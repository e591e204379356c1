"""An OTLP/HTTP trace receiver that keeps spans in memory, for the end-to-end trace test and
``make demo``'s span tree.

The services export with the standard OTLP/HTTP exporter (services/_otel.py), so what arrives
here is what an OpenTelemetry collector would receive: ``POST /v1/traces``, an
``ExportTraceServiceRequest`` in protobuf, gzipped when ``OTEL_EXPORTER_OTLP_COMPRESSION`` says
so. JSON bodies are refused with a 415: the exporter never sends them. One thread serves on
127.0.0.1 on a free port; spans are kept as plain frozen records.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # no stubs
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.trace import SpanKind

__all__ = ["Link", "ReceivedSpan", "TraceCollector"]

_PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True, slots=True)
class Link:
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_id: str | None  # None for a root span
    name: str
    kind: SpanKind
    service: str  # the resource's service.name
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    links: tuple[Link, ...] = ()

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


class TraceCollector:
    """``with TraceCollector() as collector:`` serves until the block ends; point a service at
    it with ``OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint``."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._changed = threading.Condition()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="otlp-receiver", daemon=True)  # stops in 50 ms

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def otel_env(self, delay_ms: int = 100) -> dict[str, str]:
        """The standard variables that send a service's spans here, every ``delay_ms``."""
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": str(delay_ms)}

    def __enter__(self) -> TraceCollector:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def spans(self, trace_id: str | None = None) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order, or those of one trace."""
        with self._changed:
            return [s for s in self._spans if trace_id is None or s.trace_id == trace_id]

    def wait_for(self, done: Callable[[list[ReceivedSpan]], bool], timeout: float) -> bool:
        """Wait until ``done(spans)`` holds, at most ``timeout`` seconds; whether it did."""
        with self._changed:
            return self._changed.wait_for(lambda: done(list(self._spans)), timeout)

    def receive(self, body: bytes) -> None:
        """Keep the spans of one export request (protobuf); ``DecodeError`` if it is not one."""
        request = ExportTraceServiceRequest.FromString(body)
        received = [
            _span(span, service)
            for resource_spans in request.resource_spans
            for service in [_service_name(resource_spans.resource.attributes)]
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._changed:
            self._spans.extend(received)
            self._changed.notify_all()


def _span(span: Span, service: str) -> ReceivedSpan:
    return ReceivedSpan(
        trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex() or None, name=span.name,
        # OTLP numbers kinds from 1 (INTERNAL); the API's enum from 0; 0 is "unspecified".
        kind=SpanKind(max(span.kind - 1, 0)), service=service,
        start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
        attributes=_attributes(span.attributes),
        links=tuple(Link(link.trace_id.hex(), link.span_id.hex()) for link in span.links))


def _service_name(attributes: Iterable[KeyValue]) -> str:
    return str(_attributes(attributes).get("service.name", ""))


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, collector: TraceCollector) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.collector = collector


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the exporter keeps its connection open between exports

    def do_POST(self) -> None:
        assert isinstance(self.server, _Server)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/traces":
            return self._answer(404)
        if self.headers.get("Content-Type", "") != _PROTOBUF:
            return self._answer(415)
        try:
            if self.headers.get("Content-Encoding", "") == "gzip":
                body = gzip.decompress(body)
            self.server.collector.receive(body)
        except (OSError, EOFError, DecodeError):  # gzip's errors, then protobuf's
            return self._answer(400)
        self._answer(200, ExportTraceServiceResponse().SerializeToString())

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Type", _PROTOBUF)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo's screen is for the demo."""
