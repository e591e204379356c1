"""An OTLP/HTTP trace receiver that keeps spans in memory, for the end-to-end trace test and
``make demo``'s span tree.

The services export with the standard OTLP/HTTP exporter (services/_otel.py), so what arrives
here is what an OpenTelemetry collector would receive: ``POST /v1/traces``, an
``ExportTraceServiceRequest`` in protobuf, gzipped when ``OTEL_EXPORTER_OTLP_COMPRESSION`` says
so. JSON bodies are refused with a 415: the exporter never sends them. A uvicorn server in a
thread of its own serves on 127.0.0.1 on a free port, so a synchronous caller (the demo) can
use it; spans are kept as plain frozen records.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # no stubs
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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
        app = Starlette(routes=[Route("/v1/traces", self._export, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                     log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="otlp-receiver",
                                        daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host!s}:{port}"

    def otel_env(self, delay_ms: int = 100) -> dict[str, str]:
        """The standard variables that send a service's spans here, every ``delay_ms``."""
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": str(delay_ms)}

    def __enter__(self) -> TraceCollector:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the OTLP receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def spans(self, trace_id: str | None = None) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order, or those of one trace."""
        with self._changed:
            return [s for s in self._spans if trace_id is None or s.trace_id == trace_id]

    def wait_for(self, done: Callable[[list[ReceivedSpan]], bool], timeout: float) -> bool:
        """Wait until ``done(spans)`` holds, at most ``timeout`` seconds; whether it did."""
        with self._changed:
            return self._changed.wait_for(lambda: done(list(self._spans)), timeout)

    async def _export(self, request: Request) -> Response:
        if request.headers.get("content-type", "") != _PROTOBUF:
            return Response(status_code=415, media_type=_PROTOBUF)
        body = await request.body()
        try:
            if request.headers.get("content-encoding", "") == "gzip":
                body = gzip.decompress(body)
            self.receive(body)
        except (OSError, EOFError, DecodeError):  # gzip's errors, then protobuf's
            return Response(status_code=400, media_type=_PROTOBUF)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=_PROTOBUF)

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
