"""OpenTelemetry SDK providers with in-memory exporters, set for one test only.

OpenTelemetry lets a process set its global provider once; the tests put theirs in place and
take it away again, so that the rest of the suite runs as an application without the SDK
(the API's no-op tracer: no spans, no trace headers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)  # private: see the docstring
    yield exporter
    provider.shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


@pytest.fixture
def meter_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryMetricReader]:
    """The global meter provider for one test: instruments made meanwhile record into it."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER", provider)  # private: as above
    yield reader
    provider.shutdown()


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def ancestor_ids(span: ReadableSpan, spans: InMemorySpanExporter) -> list[int]:
    """The span's parents' ids, nearest first, up to the first not finished here (remote)."""
    finished = {s.context.span_id: s for s in spans.get_finished_spans()}
    found: list[int] = []
    while (parent := parent_id(span)) is not None and len(found) <= len(finished):
        found.append(parent)
        if parent not in finished:
            break
        span = finished[parent]
    return found
