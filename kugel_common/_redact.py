"""Keep secrets out of logs and error messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

__all__ = ["SENSITIVE_HEADERS", "redact_body", "redact_headers", "redact_path", "redact_url"]

REDACTED = "[redacted]"

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "cookie",
        "set-cookie",
        "dapr-api-token",
    }
)
# A body field is secret when its lower-cased name contains one of these.
_SENSITIVE_FIELD_PARTS = ("password", "passwd", "secret", "token", "api_key", "apikey",
                          "authorization", "cookie", "credential")


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {
        name: REDACTED if name.lower() in SENSITIVE_HEADERS else value for name, value in headers
    }


def _is_sensitive_field(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(part in lowered for part in _SENSITIVE_FIELD_PARTS)


def redact_body(body: Any) -> Any:
    """A copy of a decoded JSON body with every secret-looking field's value replaced."""
    if isinstance(body, dict):
        return {
            key: REDACTED if _is_sensitive_field(str(key)) else redact_body(value)
            for key, value in body.items()
        }
    if isinstance(body, list):
        return [redact_body(item) for item in body]
    return body


def redact_url(url: httpx.URL) -> str:
    """The URL without userinfo or query string, which is where secrets hide in URLs."""
    return str(url.copy_with(query=None, userinfo=b"", fragment=None))


def redact_path(target: str) -> str:
    """A request target (``/items/tea?access_token=x``) without its query string, the same
    rule as :func:`redact_url`."""
    return target.partition("?")[0]
