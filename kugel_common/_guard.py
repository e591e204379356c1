"""The request guard: refuse, before any I/O, what only the caller can fix, so it is never sent,
retried or counted against the dependency.

- An absolute endpoint only under one of the service's own base URLs (same origin, under its
  base path), so it cannot reach the host's other APIs (a sidecar's state API, with its token).
- No dot segment (``..``, ``.``), percent-encoded or not, nor one that a decoded ``/`` or a
  ``\\`` would make: a server or proxy that decodes first would resolve it.
- No header name or value that HTTP forbids (CR, LF, NUL, other control characters).

URLs and endpoints repeat, so their parsing is cached (for strings of a sane length only).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import httpx

from ._call import Call
from ._redact import redact_url
from .errors import InvalidEndpointError, InvalidRequestError

__all__ = ["RequestGuard", "invalid_request", "url_for"]

# RFC 9110: a field name is a token; a value holds no CR, LF, NUL or other control character.
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")

R = TypeVar("R")


def _cached_when_short(function: Callable[[str], R]) -> Callable[[str], R]:
    """Cache a pure function of a URL or endpoint, which repeat; only for strings of a sane
    length, so that a caller's giant URLs cannot fill memory."""
    cached = functools.lru_cache(maxsize=1024)(function)
    return lambda text: cached(text) if len(text) <= 2048 else function(text)


@_cached_when_short
def _is_absolute(endpoint: str) -> bool:
    """Whether an endpoint names a host: ``http://h/x``, ``//h/x``."""
    parts = urlsplit(endpoint)
    return bool(parts.netloc) or parts.scheme.lower() in ("http", "https")


@_cached_when_short
def _has_dot_segment(endpoint: str) -> bool:
    """``..`` or ``.`` as a path segment, percent-encoded or not (``a/../b``, ``a/%2e%2E/b``),
    also where a decoded ``/`` or a ``\\`` would make one (``..%2fadmin``, ``..\\admin``): a
    server or proxy that decodes them first would resolve it."""
    path = endpoint.partition("?")[0].partition("#")[0]
    pieces = re.split(r"[/\\]", unquote(path))
    return any(piece in (".", "..") for piece in pieces)


@_cached_when_short
def _parsed(url: str) -> httpx.URL:
    """httpx.URL is immutable, and parsing it is a tenth of a call's cost."""
    return httpx.URL(url)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def url_for(endpoint: str, base: str) -> httpx.URL:
    """The URL of ``endpoint`` on the instance at ``base``; an absolute endpoint as it is (the
    guard has checked its origin)."""
    if _is_absolute(endpoint):
        return _parsed(endpoint)
    if not endpoint or endpoint.startswith("/"):
        return _parsed(base + endpoint)
    return _parsed(f"{base}/{endpoint}")


def invalid_request(
    service: str, call: Call, reason: str, url: httpx.URL | None = None
) -> InvalidRequestError:
    """The URL, when there is one, is redacted like every error's."""
    return InvalidRequestError(f"{service}: {call.method} {call.template!r}: {reason}",
                               service=service, method=call.method,
                               url=redact_url(url) if url is not None else "")


class RequestGuard:
    """The checks for one service, whose base URLs bound where an absolute endpoint may go."""

    def __init__(self, service: str, base_urls: Sequence[str]) -> None:
        self.service = service
        self._first = base_urls[0]
        self._bases = {(_origin(parsed), parsed.path.rstrip("/"))
                       for parsed in map(httpx.URL, base_urls)}

    def check(self, call: Call) -> None:
        endpoint = call.endpoint
        if _is_absolute(endpoint):
            self._check_origin(call)
        try:
            url = url_for(endpoint, self._first)
        except httpx.InvalidURL as exc:
            raise invalid_request(self.service, call, f"the URL cannot be built: {exc}") from exc
        if _has_dot_segment(endpoint):
            shown = redact_url(_parsed(endpoint))
            raise InvalidEndpointError(
                f"{self.service}: endpoint {shown!r} has a dot segment; it would leave the "
                "service's base path", service=self.service, method=call.method, url=shown)
        if call.headers is not None:
            for name, value in call.headers.raw:
                if not (_FIELD_NAME.fullmatch(name) and _FIELD_VALUE.fullmatch(value)):
                    raise invalid_request(
                        self.service, call, f"header {name.decode('latin-1')!r} has a character "
                        "HTTP forbids (CR, LF, NUL or another control character)", url)

    def _check_origin(self, call: Call) -> None:
        endpoint = call.endpoint
        parts = urlsplit(endpoint)
        target = httpx.URL(endpoint if parts.scheme else "http:" + endpoint)
        path = target.path
        if not (parts.scheme and any(
            _origin(target) == origin and (path == base or path.startswith(base + "/"))
            for origin, base in self._bases
        )):
            raise InvalidEndpointError(
                f"{self.service}: endpoint {redact_url(target)!r} is not a relative path; "
                "absolute URLs would bypass service discovery",
                service=self.service,
                method=call.method,
                url=redact_url(target),
            )
