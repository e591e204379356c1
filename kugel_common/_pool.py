"""The pool: one :class:`ServiceChannel` per service name, built on first use and shared.

A pool is an ordinary object that its owner (the DI container) creates, injects and closes; no
pool is global. Service names are resolved through an async :class:`Resolver` when a service is
first called, so discovery may do I/O (DNS-SRV, a registry lookup).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ._auth import ServiceCredentials, auth_for
from ._breaker import BreakerState
from ._breaker_store import BreakerStore
from ._channel import ServiceChannel
from ._client import HttpClientHelper
from ._clock import Clock, SystemClock
from ._hooks import Hook, HookSet
from ._registry import Resolver, ServiceAddress, ServiceRegistry
from ._settings_check import load_settings
from ._transport import build_transport
from .errors import HttpClientError, ServiceUnavailableError

if TYPE_CHECKING:
    from ._settings import ClientSettings

__all__ = ["ServiceClientPool"]

TransportFactory = Callable[[str, "ClientSettings"], httpx.AsyncBaseTransport]


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
        if settings is None:
            from ._settings import ClientSettings  # pydantic-settings: on first use only

            settings = load_settings(ClientSettings)
        self.settings = settings
        self.hooks = HookSet.of(hooks)
        self.clock: Clock = clock or SystemClock()
        self._transport = transport or (lambda _name, settings: build_transport(settings))
        self._rng = rng or random.Random()
        if breaker_store is not None and not all(
                callable(getattr(breaker_store, method, None)) for method in ("load", "save")):
            raise TypeError(f"{breaker_store!r} is not a breaker store: it needs async load "
                            "and save")
        self._breaker_store = breaker_store
        self._channels: dict[str, ServiceChannel] = {}
        self._transports: dict[tuple[object, ...], _Borrowed] = {}
        self._added: dict[str, ServiceAddress] = {}
        self._auth: dict[str, httpx.Auth | None] = {}
        self._resolving: dict[str, asyncio.Future[ServiceAddress]] = {}
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

    async def channel(self, name: str, *, timeout: float | None = None) -> ServiceChannel:
        """The service's channel, resolving its address on first use, within ``timeout``
        seconds (the call's deadline; ``deadline`` by default)."""
        channel = self._channels.get(name)
        if channel is not None:
            return channel
        self._check_open()
        address = self._added.get(name) or await self._resolve(name, timeout)
        self._check_open()  # closed while the name was looked up
        channel = self._channels.get(name)  # another caller may have built it meanwhile
        if channel is None:
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
            channel.auth = self._auth.get(name)
            self._channels[name] = channel
        return channel

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this ServiceClientPool is closed; create a new one")

    async def _resolve(self, name: str, timeout: float | None) -> ServiceAddress:
        """One lookup per name however many callers wait for it; a failed one is not kept,
        so the next call asks again. A caller that gives up does not cancel the others'."""
        pending = self._resolving.get(name)
        if pending is None:
            pending = self._resolving[name] = asyncio.ensure_future(self._lookup(name))
            pending.add_done_callback(lambda done: self._settled(name, done))
        wait = self.settings.deadline if timeout is None else timeout
        try:
            async with asyncio.timeout(wait):
                return await asyncio.shield(pending)
        except TimeoutError:
            raise _discovery_failed(name, f"no answer within {wait:g} s") from None

    async def _lookup(self, name: str) -> ServiceAddress:
        """A resolver's own failure (DNS down, a registry that timed out) is a dependency being
        unavailable, for the caller to try again later; kugel errors pass as they are."""
        try:
            async with asyncio.timeout(self.settings.deadline):  # a hung lookup ends, too
                address = await self.registry.resolve(name)
        except HttpClientError:
            raise
        except TimeoutError:
            raise _discovery_failed(name, f"no answer within {self.settings.deadline:g} s") \
                from None
        except Exception as exc:
            raise _discovery_failed(name, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(address, ServiceAddress):
            raise _discovery_failed(name, f"the resolver answered {address!r}, not a "
                                          "ServiceAddress")
        return address

    def _settled(self, name: str, done: asyncio.Future[ServiceAddress]) -> None:
        self._resolving.pop(name, None)
        if not done.cancelled():
            done.exception()  # retrieved here, so no waiter left means no "never retrieved"

    def client(
        self, name: str, *, auth: httpx.Auth | ServiceCredentials | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpClientHelper:
        """A caller's handle on ``name``; the name is resolved when the handle is entered or
        first used (a name nobody configured raises ``ServiceNotConfiguredError`` there)."""
        return HttpClientHelper(self, name, auth=auth_for(name, auth), headers=headers)

    def set_auth(self, name: str, auth: httpx.Auth | ServiceCredentials | None) -> None:
        """Switch the service's default credentials at run time, for every caller."""
        self._auth[name] = auth_for(name, auth)
        if name in self._channels:
            self._channels[name].auth = self._auth[name]

    def breaker_state(self, name: str) -> BreakerState:
        """Closed for a service not called yet: nothing has failed."""
        channel = self._channels.get(name)
        return BreakerState.CLOSED if channel is None else channel.breaker.state

    def breaker_states(self) -> dict[str, BreakerState]:
        """Every service called so far, and its breaker: what a readiness check reports."""
        return {name: channel.breaker.state for name, channel in self._channels.items()}

    async def isolate_breaker(self, name: str) -> None:
        (await self.channel(name)).breaker.isolate()

    async def reset_breaker(self, name: str) -> None:
        (await self.channel(name)).breaker.reset()

    def metrics_snapshot(self) -> dict[str, Any]:
        return {
            name: {"breaker": channel.breaker.state.value, **channel.metrics.snapshot()}
            for name, channel in self._channels.items()
        }

    def reset_metrics(self) -> None:
        for channel in self._channels.values():
            channel.metrics.reset()

    async def __aenter__(self) -> ServiceClientPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        channels, self._channels = list(self._channels.values()), {}
        transports, self._transports = list(self._transports.values()), {}
        await asyncio.gather(*(channel.aclose() for channel in channels))
        await asyncio.gather(*(transport.shared.aclose() for transport in transports))


def _discovery_failed(name: str, why: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"{name}: discovery failed: {why}", service=name)
