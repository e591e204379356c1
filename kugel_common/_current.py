"""The current app's pool: what ``get_service_client(name)`` resolves through.

A context variable, not a global per process or per event loop: ``create_app`` sets it for
each request and for the tasks its lifespan starts, so two apps in one process (or one event
loop) never share a registry, a breaker or a pool by accident. Elsewhere, ``use_pool`` sets it
for a block. Injected code never needs it: a repository receives its pool.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import httpx

from ._auth import ServiceCredentials
from ._client import HttpClientHelper
from ._pool import ServiceClientPool
from .errors import NoCurrentAppError

__all__ = ["current_pool", "get_service_client", "use_pool"]

_current: ContextVar[ServiceClientPool | None] = ContextVar("kugel_current_pool", default=None)


@contextmanager
def use_pool(pool: ServiceClientPool) -> Iterator[ServiceClientPool]:
    """Make ``pool`` the current one inside the block (and in tasks started there)."""
    token = _current.set(pool)
    try:
        yield pool
    finally:
        _current.reset(token)


def current_pool() -> ServiceClientPool:
    pool = _current.get()
    if pool is None:
        raise NoCurrentAppError(
            "no current kugel app: get_service_client() works inside a request or a task of an "
            "app built by create_app, or in a `with use_pool(pool):` block; elsewhere pass the "
            "container's pool (container.http_client()) to the code that calls")
    return pool


def get_service_client(
    name: str, *, auth: httpx.Auth | ServiceCredentials | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpClientHelper:
    """``async with get_service_client("master-data") as client:`` over the current app's pool.

    Raises :class:`~kugel_common.errors.NoCurrentAppError` outside an app, and
    :class:`~kugel_common.errors.ServiceNotConfiguredError` on entering for an unknown name.
    """
    return current_pool().client(name, auth=auth, headers=headers)
