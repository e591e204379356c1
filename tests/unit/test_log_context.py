"""Log lines carry the trace, span and request ids, one JSON object a line, secrets still out
(docs/operations.md, "Logs")."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from kugel_common import ServiceClientPool, ServiceRegistry, ServiceUnavailableError
from kugel_common.fastapi import JsonLogFormatter, LogContextFilter, RedactUrlsFilter

from .otel import spans
from .test_tracing_app import get_once

__all__ = ["spans"]

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
INCOMING = {"traceparent": f"00-{TRACE_ID:032x}-00f067aa0ba902b7-01", "X-Request-ID": "req-1"}


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """kugel's records, formatted as services/logging.json formats them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(LogContextFilter())
    logger = logging.getLogger("kugel_common")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.DEBUG
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def failing_upstream() -> ServiceClientPool:
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test", headers={"Authorization": "Bearer hunter2"})
    mock = httpx.MockTransport(lambda request: httpx.Response(500))
    return ServiceClientPool(registry=registry, transport=lambda _n, _s: mock)


async def test_a_requests_log_line_carries_its_callers_trace_id(
    spans: InMemorySpanExporter, json_lines: io.StringIO
) -> None:
    pool = failing_upstream()
    router = APIRouter()

    @router.get("/items/{code}")
    async def item(code: str) -> object:
        return await pool.client("svc").get("/items/{code}", path_params={"code": code},
                                            params={"token": "s3cret"})

    reply = await get_once(pool, router, "/items/a1", INCOMING)
    assert reply.status_code == 503

    server = next(s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER)
    logged = {line["logger"]: line for line in lines(json_lines)}
    error = logged["kugel_common.fastapi"]
    assert set(error) == {"time", "level", "logger", "message", "trace_id", "span_id",
                          "request_id"}
    assert (error["level"], error["trace_id"], error["span_id"], error["request_id"]) == (
        "WARNING", f"{TRACE_ID:032x}", f"{server.context.span_id:016x}", "req-1")
    assert "GET http://svc.test/items/a1 -> 500" in error["message"]  # the URL, redacted
    assert "hunter2" not in json_lines.getvalue() and "s3cret" not in json_lines.getvalue()


def test_outside_a_span_and_a_request_the_ids_are_null(json_lines: io.StringIO) -> None:
    logging.getLogger("kugel_common.test").warning("plain")
    (line,) = lines(json_lines)
    assert (line["message"], line["trace_id"], line["span_id"], line["request_id"]) == (
        "plain", None, None, None)


def test_an_exception_is_one_json_line(json_lines: io.StringIO) -> None:
    try:
        raise ServiceUnavailableError("svc: down", service="svc")
    except ServiceUnavailableError:
        logging.getLogger("kugel_common.test").exception("failed")
    (line,) = lines(json_lines)
    assert "ServiceUnavailableError: svc: down" in line["exception"]


def test_the_services_log_config_loads() -> None:
    config = json.loads((ROOT / "services" / "logging.json").read_text())
    handler = config["handlers"]["stdout"]
    assert (handler["formatter"], handler["filters"]) == ("json", ["context", "urls"])
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        (made,) = root.handlers
        assert isinstance(made.formatter, JsonLogFormatter)
        assert any(isinstance(f, LogContextFilter) for f in made.filters)
        assert any(isinstance(f, RedactUrlsFilter) for f in made.filters)
    finally:
        for handler_ in root.handlers:
            handler_.close()
        root.handlers, root.level = saved


@pytest.fixture
def services_log() -> Iterator[io.StringIO]:
    """services/logging.json in force, its handler writing here instead of stdout."""
    config = json.loads((ROOT / "services" / "logging.json").read_text())
    out = io.StringIO()
    config["handlers"]["stdout"]["stream"] = out
    names = ["", *config["loggers"]]
    saved = [(logging.getLogger(n), logging.getLogger(n).handlers[:],
              logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names]
    logging.config.dictConfig(config)
    yield out
    for logger, handlers, level, propagate in saved:
        for handler in logger.handlers:
            handler.close()
        logger.handlers, logger.level, logger.propagate = handlers, level, propagate


async def test_the_services_log_has_no_query_string_of_uvicorn_or_httpx(
    services_log: io.StringIO,
) -> None:
    scope = {"type": "http", "method": "GET", "path": "/api/v1/stock/tea", "root_path": "",
             "query_string": b"access_token=SECRETACCESS9", "client": ("10.0.0.7", 5123)}
    logging.getLogger("uvicorn.access").info(  # as uvicorn's protocols write the access line
        '%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],
        get_path_with_query_string(scope), "1.1", 200)
    outbound = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(transport=outbound) as client:
        await client.get("http://user:SECRETPW2@payments.test/payments/cash",
                         params={"api_key": "SECRETOUT1"})
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING  # no line
        logging.getLogger("httpx").setLevel(logging.INFO)  # an operator debugging calls
        await client.get("http://user:SECRETPW2@payments.test/payments/cash",
                         params={"api_key": "SECRETOUT1"})

    access, request = (line["message"] for line in lines(services_log))
    assert access == '10.0.0.7:5123 - "GET /api/v1/stock/tea HTTP/1.1" 200'
    assert request == 'HTTP Request: GET http://payments.test/payments/cash "HTTP/1.1 200 OK"'
    for secret in ("SECRETACCESS9", "SECRETOUT1", "SECRETPW2"):
        assert secret not in services_log.getvalue()


@pytest.mark.parametrize("target", ["http%3A//127.0.0.1/x?access_token=SECRETABS1",
                                    "http://127.0.0.1/x?access_token=SECRETABS1",
                                    "abc?access_token=SECRETABS1", "*?access_token=SECRETABS1"])
def test_an_access_line_for_a_target_not_starting_with_a_slash_has_no_query(
    services_log: io.StringIO, target: str,
) -> None:
    """The absolute form a forward proxy sends, and what a client makes up, are cut too."""
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "10.0.0.7:5123", "GET",
                                             target, "1.1", 404)
    [line] = lines(services_log)
    assert line["message"] == f'10.0.0.7:5123 - "GET {target.partition("?")[0]} HTTP/1.1" 404'
    assert "SECRETABS1" not in services_log.getvalue()
