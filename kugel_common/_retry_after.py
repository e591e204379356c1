"""Reading a server's ``Retry-After`` header (RFC 9110, section 10.2.3)."""

from __future__ import annotations

import email.utils
import time

import httpx

__all__ = ["retry_after_seconds"]


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's ``Retry-After`` in seconds from now, if it sent a readable one: either
    delay-seconds or an HTTP-date."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also takes "²", which float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
