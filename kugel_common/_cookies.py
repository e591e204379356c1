"""Cookies on a shared pool: none. The pool serves every caller, so a cookie set for one must
never reach another; a caller that needs one sends a Cookie header per call.

Done through public API only: the client is given, through its constructor, a standard-library
``CookieJar`` that keeps nothing, and httpx keeps and sends cookies through the jar it was given.
tests/integration/test_transports.py proves it on a real server: a ``Set-Cookie`` from one call
is not sent on the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx

__all__ = ["SharedClient"]


class _KeepNothing(CookieJar):
    """A jar that never holds a cookie: neither from a response nor set by hand."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None  # not even parsed

    def set_cookie(self, cookie: Cookie) -> None:
        return None


class SharedClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose cookie jar keeps nothing, and whose jar cannot be
    replaced: ``client.cookies = ...`` raises."""

    def __init__(
        self, *, transport: httpx.AsyncBaseTransport, headers: Mapping[str, str],
        follow_redirects: bool,
    ) -> None:
        super().__init__(cookies=_KeepNothing(), transport=transport, headers=headers,
                         follow_redirects=follow_redirects)

    @property
    def cookies(self) -> httpx.Cookies:
        return super().cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("kugel's shared clients keep no cookies; send a Cookie header per call")
