"""Repositories over master-data: items, payments, settings, staff."""

from __future__ import annotations

import httpx

from .._auth import ServiceCredentials
from .._cache import LoadingCache
from .._clock import Clock
from .._pool import ServiceClientPool
from ..schemas import Item, Payment, Setting, Staff
from ._base import WebRepository

__all__ = [
    "ItemMasterWebRepository",
    "PaymentMasterWebRepository",
    "SettingsMasterWebRepository",
    "StaffMasterWebRepository",
]


class _MasterData(WebRepository):
    service = "master-data"


class ItemMasterWebRepository(_MasterData):
    """Items change rarely and are read on every scan: cached for ``ttl`` seconds, and
    concurrent misses for one item make one upstream call."""

    def __init__(self, clients: ServiceClientPool, *,
                 auth: httpx.Auth | ServiceCredentials | None = None, ttl: float = 60.0,
                 max_size: int = 10_000, clock: Clock | None = None) -> None:
        super().__init__(clients, auth=auth)
        self._cache: LoadingCache[tuple[str, str, str], Item] = LoadingCache(
            ttl, max_size, clock or clients.clock)

    async def get_item(self, tenant: str, store: str, item_code: str) -> Item:
        return await self._cache.get(
            (tenant, store, item_code),
            lambda: self.fetch(Item, "/tenants/{tenant}/stores/{store}/items/{code}",
                               tenant=tenant, store=store, code=item_code))


class PaymentMasterWebRepository(_MasterData):
    def __init__(self, clients: ServiceClientPool, *,
                 auth: httpx.Auth | ServiceCredentials | None = None, ttl: float = 300.0,
                 max_size: int = 1_000, clock: Clock | None = None) -> None:
        super().__init__(clients, auth=auth)
        self._cache: LoadingCache[tuple[str, str], Payment] = LoadingCache(
            ttl, max_size, clock or clients.clock)

    async def get_payment(self, tenant: str, code: str) -> Payment:
        return await self._cache.get(
            (tenant, code),
            lambda: self.fetch(Payment, "/tenants/{tenant}/payments/{code}", tenant=tenant,
                               code=code))


class SettingsMasterWebRepository(_MasterData):
    async def get_settings(self, tenant: str, store: str | None = None,
                           terminal: str | None = None) -> tuple[Setting, ...]:
        """The settings in effect: the service resolves terminal over store over tenant."""
        return await self.fetch(tuple[Setting, ...], "/tenants/{tenant}/settings",
                                tenant=tenant, params={"store": store, "terminal": terminal})

    async def get_setting_value(self, tenant: str, name: str, *, store: str | None = None,
                                terminal: str | None = None,
                                default: str | None = None) -> str | None:
        for setting in await self.get_settings(tenant, store, terminal):
            if setting.name == name:
                return setting.value
        return default


class StaffMasterWebRepository(_MasterData):
    async def get_staff(self, tenant: str, staff_id: str) -> Staff:
        return await self.fetch(Staff, "/tenants/{tenant}/staff/{staff_id}", tenant=tenant,
                                staff_id=staff_id)
