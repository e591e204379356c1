"""The reference services' OpenTelemetry SDK: their spans go to a collector over OTLP/HTTP when
the standard environment asks for it, and nothing is configured otherwise.

kugel_common only uses ``opentelemetry-api``; configuring the SDK is the application's job, so
it is done here, from the standard variables:

- ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full URL) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the
  collector's base URL; ``/v1/traces`` is added): where spans go. Without either, no SDK: the
  API's no-op tracer answers and no trace headers are sent.
- ``OTEL_TRACES_EXPORTER``: ``otlp`` (the default) or ``none``; ``OTEL_SDK_DISABLED=true``.
- ``OTEL_SERVICE_NAME``: the resource's ``service.name``; the app id when unset.
- The rest (``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``_COMPRESSION``,
  ``_TIMEOUT``, ``OTEL_RESOURCE_ATTRIBUTES``) as the SDK and the exporter read them.

``services.common.traced`` sets the provider when an app starts and shuts it down when it
stops, which exports the spans still in the batch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from kugel_common import SettingsError

__all__ = ["provider_from_env", "tracer_provider"]

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def tracer_provider(service: str, endpoint: str | None = None) -> TracerProvider:
    """A provider that batches spans to an OTLP/HTTP collector: to ``endpoint`` (the full
    ``.../v1/traces`` URL), else where the standard variables say."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def provider_from_env(app_id: str,
                      environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """The provider the standard variables ask for, or None when they ask for none."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if exporter == "none":
        return None
    if exporter != "otlp":
        raise SettingsError([f"OTEL_TRACES_EXPORTER: {exporter!r} is not supported here; "
                             "use 'otlp' or 'none'"])
    if not any(environ.get(name) for name in _ENDPOINTS):
        return None
    return tracer_provider(environ.get("OTEL_SERVICE_NAME") or app_id)
