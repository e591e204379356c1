"""Whether kugel traces: only when ``opentelemetry-api`` is installed (the ``otel`` extra) and,
for a client, the ``tracing`` setting is on.

Without it a channel holds no tracer and pays one ``is None`` test per call. The OpenTelemetry
modules are imported when the first channel or app is built, never by ``import kugel_common``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._client_spans import ClientTracer

__all__ = ["client_tracer", "otel_installed"]


@functools.cache
def otel_installed() -> bool:
    try:
        import opentelemetry.propagate
        import opentelemetry.trace  # noqa: F401
    except ImportError as exc:
        if (exc.name or "").startswith("opentelemetry"):
            return False
        raise
    return True


def client_tracer(service: str, enabled: bool) -> ClientTracer | None:
    """The service's tracer, or None when tracing is off or OpenTelemetry is not installed."""
    if not (enabled and otel_installed()):
        return None
    from ._client_spans import ClientTracer

    return ClientTracer(service)
