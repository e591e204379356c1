"""Callbacks for tracing, metrics export and alerting. A hook that raises never breaks a call.

Hooks are plain synchronous callables so that they cannot stall the request path; a hook that
needs to do I/O should hand the work to a task or queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ._breaker import BreakerState

__all__ = ["Hooks", "RequestInfo", "ResponseInfo"]

logger = logging.getLogger("kugel_common.hooks")


@dataclass(frozen=True, slots=True)
class RequestInfo:
    service: str
    method: str
    url: str  # without query string or credentials
    endpoint: str  # the template, e.g. "/items/{code}"
    attempt: int


@dataclass(frozen=True, slots=True)
class ResponseInfo:
    service: str
    method: str
    url: str
    endpoint: str
    attempt: int
    elapsed: float
    status_code: int | None  # None when the attempt raised
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class Hooks:
    on_retry: Callable[[int, httpx.Response | BaseException, float], Any] | None = None
    on_breaker_change: Callable[[str, BreakerState, BreakerState], Any] | None = None
    on_request: Callable[[RequestInfo], Any] | None = None
    on_response: Callable[[ResponseInfo], Any] | None = None


def call_hook(hook: Callable[..., Any] | None, *args: Any) -> None:
    if hook is None:
        return
    try:
        hook(*args)
    except Exception:
        logger.exception("kugel hook %r raised; the call goes on", hook)
