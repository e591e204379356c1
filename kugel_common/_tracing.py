"""Whether kugel traces and meters: only when ``opentelemetry-api`` is installed (the ``otel``
extra) and, for a client's spans, the ``tracing`` setting is on. Metrics need no setting: the
application turns them on by setting a meter provider, off with a view that drops them.

Without the extra a channel holds no tracer and no meter and pays two ``is None`` tests per
call. The OpenTelemetry modules are imported when the first channel or app is built, never by
``import kugel_common``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._client_meter import ClientMeter
    from ._client_spans import ClientTracer

__all__ = ["client_meter", "client_tracer", "otel_installed"]


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


def client_meter(service: str) -> ClientMeter | None:
    """The service's duration histogram, or None when OpenTelemetry is not installed."""
    if not otel_installed():
        return None
    from ._client_meter import ClientMeter

    return ClientMeter(service)
