"""One logical call, as the caller asked for it; its attempts may differ in instance and time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Call", "QueryParams"]

QueryParams = Mapping[str, Any]


@dataclass(slots=True)
class Call:
    """One logical call, as the caller asked for it. Attempts may differ in instance and time."""

    method: str
    endpoint: str
    template: str
    params: QueryParams | None
    json: Any
    data: Any
    content: bytes | None
    headers: httpx.Headers | None
    auth: httpx.Auth | None
    deadline: float
    stream: bool
    idempotent: bool = False  # the caller vouches that a resend is harmless, whatever the method
    # A 5xx reply that reports the request's own fault (e.g. a Dapr errorCode), not a sick server:
    # it must not count against the breaker.
    caller_fault: Callable[[httpx.Response], bool] | None = None
    tried: list[str] = field(default_factory=list)
