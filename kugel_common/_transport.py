"""Build the one transport, and the one SSL context, that a service's pool uses."""

from __future__ import annotations

import functools
import ssl
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ._settings import ClientSettings


__all__ = ["build_transport", "limits_of", "ssl_context"]


@functools.lru_cache(maxsize=32)
def ssl_context(
    verify: bool, ca_bundle: str | None, client_cert: str | None, client_key: str | None
) -> ssl.SSLContext | bool:
    """Built once per distinct TLS setting: loading CA bundles costs milliseconds."""
    if not verify:
        return False
    import certifi  # only when a TLS context is built

    context = ssl.create_default_context(cafile=ca_bundle or certifi.where())
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    return context


def limits_of(settings: ClientSettings) -> httpx.Limits:
    return httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_keepalive_connections,
        keepalive_expiry=settings.keepalive_expiry,
    )


def build_transport(settings: ClientSettings) -> httpx.AsyncBaseTransport:
    verify = ssl_context(
        settings.verify, settings.ca_bundle, settings.client_cert, settings.client_key
    )
    if settings.transport == "aiohttp":
        from ._aiohttp import AiohttpTransport

        return AiohttpTransport(verify=verify, limits=limits_of(settings))
    return httpx.AsyncHTTPTransport(verify=verify, limits=limits_of(settings))
