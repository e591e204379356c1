"""Log lines that meet their trace and request: ids on each record, and one JSON object a line.

``LogContextFilter`` puts ``trace_id`` and ``span_id`` (lowercase hex, as W3C ``traceparent``
writes them) of the current span, when opentelemetry-api is installed and a span is current,
and ``request_id`` of the request being served; ``None`` outside them. ``JsonLogFormatter``
writes ``time``, ``level``, ``logger``, ``message``, those three ids and ``exception``. Both are
standard library logging, for a ``dictConfig`` (uvicorn's ``--log-config``, or
``UVICORN_LOG_CONFIG``): services/logging.json is one. Messages are what kugel logged, already
redacted (URLs without credentials or query, no bodies unless ``KUGEL_LOG_BODIES``);
``RedactUrlsFilter`` holds other libraries' lines to the same rule.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx

from .._redact import redact_path, redact_url
from .._tracing import otel_installed
from ._request_id import current_request_id

__all__ = ["JsonLogFormatter", "LogContextFilter", "RedactUrlsFilter"]


def _trace_ids() -> tuple[str | None, str | None]:
    if not otel_installed():
        return None, None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class LogContextFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id`` and ``request_id`` to every record; drops none. Put it
    on a handler, so that it sees records of every logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id, record.span_id = _trace_ids()
        record.request_id = current_request_id()
        return True


class RedactUrlsFilter(logging.Filter):
    """Drops query strings and userinfo from the URLs other libraries log, as kugel drops
    them from its own lines: uvicorn's access line puts the request target
    (``/items/tea?access_token=...``) in the record's arguments, httpx's ``HTTP Request:``
    line the ``httpx.URL``. Every such argument (a path, a URL) is redacted; no record is
    dropped. Put it on the handler, beside :class:`LogContextFilter`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            args = [_redacted(arg) for arg in record.args]
            if record.name == "uvicorn.access" and len(args) > 2 and isinstance(args[2], str):
                # the target as the client sent it: also "abc?..." or the absolute form a
                # forward proxy sends ("http://host/x?..."), which do not start with "/"
                args[2] = redact_path(args[2])
            record.args = tuple(args)
        return True


def _redacted(arg: object) -> object:
    if isinstance(arg, httpx.URL):
        return redact_url(arg)
    if isinstance(arg, str) and arg.startswith("/"):
        return redact_path(arg)
    return arg


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record; the ids come from :class:`LogContextFilter`."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
