"""What kugel logs about each attempt, on the ``kugel_common.http`` logger: one DEBUG line per
attempt, bodies only with ``log_bodies`` and always redacted, one INFO line per retry."""

from __future__ import annotations

import json
import logging

import httpx

from ._outcome import outcome_name
from ._redact import redact_body, redact_headers

__all__ = ["debug_enabled", "log_attempt", "log_budget_denied", "log_retry"]

logger = logging.getLogger("kugel_common.http")


def debug_enabled() -> bool:
    return logger.isEnabledFor(logging.DEBUG)


def log_attempt(
    service: str,
    method: str,
    url: str,
    attempt: int,
    elapsed: float,
    response: httpx.Response | None,
    error: BaseException | None,
    *,
    log_bodies: bool,
    streamed: bool,
) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    status = response.status_code if response is not None else None
    outcome = status if error is None else type(error).__name__
    logger.debug(
        "%s %s %s -> %s (attempt %d, %.1f ms)",
        service, method, httpx.URL(url).path, outcome, attempt, elapsed * 1000,
        extra={"service": service, "method": method, "status": status,
               "attempt": attempt, "latency_ms": elapsed * 1000},
    )
    if log_bodies and response is not None:
        request = response.request
        logger.debug(
            "%s request headers=%s body=%s; response headers=%s body=%s",
            service,
            redact_headers(request.headers.multi_items()),
            _redacted_json(request.content),
            redact_headers(response.headers.multi_items()),
            "<stream>" if streamed else _redacted_json(response.content),
        )


def log_retry(
    service: str, method: str, template: str, attempt: int,
    cause: httpx.Response | BaseException, wait: float,
) -> None:
    logger.info("%s %s %s: attempt %d got %s, retrying in %.3f s",
                service, method, template, attempt, outcome_name(cause), wait)


def log_budget_denied(service: str) -> None:
    logger.info("%s: retry budget exhausted, not retrying", service)


def _redacted_json(content: bytes) -> str:
    if not content:
        return "<empty>"
    try:
        return json.dumps(redact_body(json.loads(content)))
    except ValueError:
        return f"<{len(content)} bytes, not JSON>"
