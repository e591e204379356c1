"""Build request paths whose segments cannot escape their route."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

__all__ = ["fill_path", "path", "quote_segment"]


def quote_segment(value: object) -> str:
    """Percent-encode one path segment. ``/`` is encoded, and so are ``.`` and ``..``, which a
    call then refuses (``InvalidEndpointError``): proxies may decode and resolve them."""
    text = str(value)
    if text in (".", ".."):
        return text.replace(".", "%2E")
    return quote(text, safe="")


def path(*segments: object) -> str:
    """``path("items", "a/../b")`` -> ``"/items/a%2F..%2Fb"``: each argument stays one segment."""
    return "/" + "/".join(quote_segment(segment) for segment in segments)


def fill_path(template: str, params: Mapping[str, object]) -> str:
    """``fill_path("/items/{code}", {"code": "a/b"})`` -> ``"/items/a%2Fb"``."""
    return template.format_map({name: quote_segment(value) for name, value in params.items()})
