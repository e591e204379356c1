"""The services' span export (services/_otel.py) against the OTLP receiver the e2e trace test
and the demo read (services/_trace_collector.py), with the real OTLP/HTTP exporter between."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, format_span_id, format_trace_id

from kugel_common import SettingsError
from services import common
from services._otel import provider_from_env
from services._trace_collector import Link as ReceivedLink
from services._trace_collector import TraceCollector


@pytest.fixture
def collector() -> Iterator[TraceCollector]:
    with TraceCollector() as collector:
        yield collector


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_receiver_keeps_what_the_exporter_sends(collector: TraceCollector,
                                                    compression: Compression) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "cart"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{collector.endpoint}/v1/traces", compression=compression)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /carts", kind=SpanKind.SERVER) as server:
        linked = server.get_span_context()
        with tracer.start_as_current_span(
                "publish topic", kind=SpanKind.PRODUCER, links=[Link(linked)],
                attributes={"n": 3, "ok": True, "ratio": 0.5, "codes": ["a", "b"]}):
            pass
    provider.shutdown()

    producer, parent = collector.spans()  # in the order they ended
    trace_id, server_id = format_trace_id(linked.trace_id), format_span_id(linked.span_id)
    assert (parent.trace_id, parent.span_id, parent.parent_id) == (trace_id, server_id, None)
    assert (parent.name, parent.kind, parent.service) == ("POST /carts", SpanKind.SERVER, "cart")
    assert (producer.trace_id, producer.parent_id) == (trace_id, server_id)
    assert (producer.kind, producer.name) == (SpanKind.PRODUCER, "publish topic")
    assert producer.attributes == {"n": 3, "ok": True, "ratio": 0.5, "codes": ("a", "b")}
    assert producer.links == (ReceivedLink(trace_id, server_id),)
    assert 0 <= producer.duration_ms <= parent.duration_ms
    assert collector.spans(trace_id) == [producer, parent]
    assert collector.spans("0" * 32) == []


@pytest.mark.parametrize(("path", "headers", "body", "status"), [
    ("/v1/metrics", {"Content-Type": "application/x-protobuf"}, b"", 404),
    ("/v1/traces", {"Content-Type": "application/json"}, b"{}", 415),
    ("/v1/traces", {"Content-Type": "application/x-protobuf"}, b"\xff\xff\xff", 400),
    ("/v1/traces", {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
     b"not gzip", 400),
])
def test_the_receiver_refuses_what_is_not_an_otlp_protobuf_export(
        collector: TraceCollector, path: str, headers: dict[str, str], body: bytes,
        status: int) -> None:
    assert httpx.post(f"{collector.endpoint}{path}", headers=headers,
                      content=body).status_code == status
    assert collector.spans() == []


def test_an_empty_gzipped_export_is_accepted(collector: TraceCollector) -> None:
    reply = httpx.post(f"{collector.endpoint}/v1/traces", content=gzip.compress(b""),
                       headers={"Content-Type": "application/x-protobuf",
                                "Content-Encoding": "gzip"})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-protobuf"


def test_waiting_for_spans_that_never_come_ends_and_says_so(collector: TraceCollector) -> None:
    assert collector.wait_for(lambda spans: len(spans) > 0, timeout=0.05) is False


@pytest.mark.parametrize("environ", [
    {},  # no endpoint: the API's no-op tracer
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
])
def test_no_provider_unless_the_environment_asks_for_one(environ: dict[str, str]) -> None:
    assert provider_from_env("cart", environ) is None


@pytest.mark.parametrize(("environ", "service"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "cart"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
      "OTEL_TRACES_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "cart-eu"}, "cart-eu"),
])
def test_an_endpoint_gives_a_provider_named_by_the_app_id_or_otel_service_name(
        environ: dict[str, str], service: str) -> None:
    provider = provider_from_env("cart", environ)
    assert provider is not None
    assert provider.resource.attributes["service.name"] == service
    provider.shutdown()


def test_an_exporter_the_services_do_not_ship_is_a_settings_error() -> None:
    with pytest.raises(SettingsError) as caught:
        provider_from_env("cart", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                                   "OTEL_TRACES_EXPORTER": "zipkin"})
    assert [p.split(":")[0] for p in caught.value.problems] == ["OTEL_TRACES_EXPORTER"]


async def test_the_app_sets_the_provider_at_start_and_exports_the_rest_at_stop(
        collector: TraceCollector, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in collector.otel_env(delay_ms=60_000).items():  # nothing leaves early
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    set_: list[trace.TracerProvider] = []  # the process-wide one stays untouched
    monkeypatch.setattr(common.trace, "set_tracer_provider", set_.append)
    app = common.traced(FastAPI(), "journal")
    async with app.router.lifespan_context(app):
        [provider] = set_
        provider.get_tracer("test").start_span("handled").end()
        assert collector.spans() == []  # still in the batch
    [span] = collector.spans()
    assert (span.name, span.service) == ("handled", "journal")
