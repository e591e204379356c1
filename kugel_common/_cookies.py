"""Cookies on a shared pool: none. The pool serves every caller, so a cookie set for one must
never reach another; a caller that needs one sends a Cookie header per call.

The one place kugel leans on how httpx works inside, on purpose: the client's public ``cookies``
property answers a new, empty ``httpx.Cookies`` whose public ``extract_cookies`` does nothing,
and httpx reads that property to store and send cookies. Handing httpx a jar that keeps nothing
through its constructor (public API only) works too, but httpx then wraps every response in
urllib's cookie adapters before the jar ignores it: 13-15 us more per call on the benchmark's
MockTransport, a sixth of the whole call. If httpx stops reading the property, cookies would be
kept; tests/integration/test_transports.py fails loudly then (a ``Set-Cookie`` from one call
sent on the next, and a cookie set by hand sent at all), on both transports.
"""

from __future__ import annotations

import httpx

__all__ = ["SharedClient"]


class _NoCookies(httpx.Cookies):
    """Always empty: nothing is parsed from a response, and a new one is made on each access,
    so a cookie set by hand is kept nowhere."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class SharedClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that keeps no cookies; ``client.cookies = ...`` raises."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NoCookies()

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("kugel's shared clients keep no cookies; send a Cookie header per call")
