"""Service channels, created once per service and shared; and the per-event-loop default pool.

``get_service_client(name)`` resolves through the default pool of the running event loop, so
every context for one service in that loop shares one ``httpx.AsyncClient`` and one breaker.
A later layer (the DI container) installs its own pool with :func:`set_default_pool`.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from ._auth import ServiceCredentials, auth_for
from ._breaker import BreakerState
from ._breaker_store import BreakerStore
from ._channel import ServiceChannel
from ._client import HttpClientHelper
from ._clock import Clock, SystemClock
from ._hooks import Hook, HookSet
from ._registry import Resolver, ServiceAddress, ServiceRegistry
from ._settings import ClientSettings
from ._settings_check import load_settings
from ._transport import build_transport

__all__ = [
    "ServiceClientPool",
    "breaker_state",
    "close_all_clients",
    "default_pool",
    "get_service_client",
    "isolate_breaker",
    "metrics_snapshot",
    "reset_breaker",
    "reset_metrics",
    "set_default_pool",
]

TransportFactory = Callable[[str, ClientSettings], httpx.AsyncBaseTransport]


class _Borrowed(httpx.AsyncBaseTransport):
    """A transport shared by several channels: closing one channel's client must not close it;
    the pool closes it once, at the end."""

    def __init__(self, shared: httpx.AsyncBaseTransport) -> None:
        self.shared = shared

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.shared.handle_async_request(request)

    async def aclose(self) -> None:
        return None


def _transport_key(address: ServiceAddress, settings: ClientSettings) -> tuple[object, ...]:
    """Channels to the same origins with the same connection settings share one pool: the
    Dapr components behind one sidecar, or the services invoked through it."""
    origins = tuple(sorted({str(httpx.URL(url).copy_with(path="/")) for url in address.base_urls}))
    return (origins, settings.transport, settings.verify, settings.ca_bundle,
            settings.client_cert, settings.client_key, settings.max_connections,
            settings.max_keepalive_connections, settings.keepalive_expiry)


class ServiceClientPool:
    """Owns one :class:`ServiceChannel` per service name; close it once, at shutdown."""

    def __init__(
        self,
        *,
        registry: Resolver | None = None,
        settings: ClientSettings | None = None,
        hooks: Iterable[Hook] = (),
        clock: Clock | None = None,
        transport: TransportFactory | None = None,
        rng: random.Random | None = None,
        breaker_store: BreakerStore | None = None,
    ) -> None:
        self.registry: Resolver = registry or ServiceRegistry()
        self.settings = settings or load_settings(ClientSettings)
        self.hooks = HookSet.of(hooks)
        self.clock: Clock = clock or SystemClock()
        self._transport = transport or (lambda _name, settings: build_transport(settings))
        self._rng = rng or random.Random()
        self._breaker_store = breaker_store
        self._channels: dict[str, ServiceChannel] = {}
        self._transports: dict[tuple[object, ...], _Borrowed] = {}
        self._added: dict[str, ServiceAddress] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def add(self, address: ServiceAddress) -> None:
        """Serve ``address.name`` from this address, ahead of the registry: for kugel's own
        targets such as the Dapr sidecar, which get a pool, breaker and metrics of their own."""
        known = self._added.get(address.name)
        if known is not None and known != address:
            raise ValueError(f"{address.name!r} is already served from another address or "
                             "credentials in this pool; give the other one its own pool")
        self._added[address.name] = address

    def channel(self, name: str) -> ServiceChannel:
        channel = self._channels.get(name)
        if channel is None:
            if self._closed:
                raise RuntimeError("this ServiceClientPool is closed; create a new one")
            address = self._added.get(name) or self.registry.resolve(name)
            settings = self.settings.for_service(name)
            key = _transport_key(address, settings)
            transport = self._transports.get(key)
            if transport is None:
                transport = self._transports[key] = _Borrowed(self._transport(name, settings))
            channel = ServiceChannel(
                address,
                settings,
                transport=transport,
                clock=self.clock,
                hooks=self.hooks,
                rng=self._rng,
                # A replica's own targets (its sidecar) are not the other replicas' to judge.
                breaker_store=None if name in self._added else self._breaker_store,
            )
            self._channels[name] = channel
        return channel

    def client(
        self, name: str, *, auth: httpx.Auth | ServiceCredentials | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpClientHelper:
        channel = self.channel(name)  # an unknown name fails before any credential is made
        return HttpClientHelper(channel, auth=auth_for(name, auth), headers=headers)

    def set_auth(self, name: str, auth: httpx.Auth | ServiceCredentials | None) -> None:
        """Switch the service's default credentials at run time, for every caller."""
        self.channel(name).auth = auth_for(name, auth)

    def breaker_state(self, name: str) -> BreakerState:
        return self.channel(name).breaker.state

    def breaker_states(self) -> dict[str, BreakerState]:
        """Every service called so far, and its breaker: what a readiness check reports."""
        return {name: channel.breaker.state for name, channel in self._channels.items()}

    def isolate_breaker(self, name: str) -> None:
        self.channel(name).breaker.isolate()

    def reset_breaker(self, name: str) -> None:
        self.channel(name).breaker.reset()

    def metrics_snapshot(self) -> dict[str, Any]:
        return {
            name: {"breaker": channel.breaker.state.value, **channel.metrics.snapshot()}
            for name, channel in self._channels.items()
        }

    def reset_metrics(self) -> None:
        for channel in self._channels.values():
            channel.metrics.reset()

    async def aclose(self) -> None:
        self._closed = True
        channels, self._channels = list(self._channels.values()), {}
        transports, self._transports = list(self._transports.values()), {}
        await asyncio.gather(*(channel.aclose() for channel in channels))
        await asyncio.gather(*(transport.shared.aclose() for transport in transports))


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ServiceClientPool] = (
    weakref.WeakKeyDictionary()
)


def default_pool() -> ServiceClientPool:
    """The running event loop's pool, created on first use."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = ServiceClientPool()
    return pool


def set_default_pool(pool: ServiceClientPool) -> None:
    """Make ``pool`` the one ``get_service_client`` uses in the running event loop."""
    _pools[asyncio.get_running_loop()] = pool


def get_service_client(
    name: str, *, auth: httpx.Auth | ServiceCredentials | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpClientHelper:
    """``async with get_service_client("master-data") as client:`` over the shared pool.

    Raises :class:`~kugel_common.errors.ServiceNotConfiguredError` at once for an unknown name.
    """
    return default_pool().client(name, auth=auth, headers=headers)


async def close_all_clients() -> None:
    """Close the running loop's pool; the next ``get_service_client`` starts a fresh one."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.aclose()


def breaker_state(name: str) -> BreakerState:
    return default_pool().breaker_state(name)


def isolate_breaker(name: str) -> None:
    default_pool().isolate_breaker(name)


def reset_breaker(name: str) -> None:
    default_pool().reset_breaker(name)


def metrics_snapshot() -> dict[str, Any]:
    return default_pool().metrics_snapshot()


def reset_metrics() -> None:
    default_pool().reset_metrics()
