"""Items, payments, staff and settings per tenant. Domain errors only."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from kugel_common.dapr import DaprClientHelper
from kugel_common.schemas import Item, Payment, Setting, Staff

from ..state import load
from .models import STORE

M = TypeVar("M", bound=BaseModel)


class MasterDataService:
    def __init__(self, dapr: DaprClientHelper) -> None:
        self.dapr = dapr

    async def put_item(self, item: Item) -> Item:
        return await self._put(f"item:{item.tenant_id}:{item.store_code}:{item.item_code}", item)

    async def get_item(self, tenant: str, store: str, code: str) -> Item:
        return await load(self.dapr, STORE, f"item:{tenant}:{store}:{code}", Item,
                          f"item {code!r}")

    async def put_payment(self, payment: Payment) -> Payment:
        return await self._put(f"payment:{payment.tenant_id}:{payment.payment_code}", payment)

    async def get_payment(self, tenant: str, code: str) -> Payment:
        return await load(self.dapr, STORE, f"payment:{tenant}:{code}", Payment,
                          f"payment {code!r}")

    async def put_staff(self, staff: Staff) -> Staff:
        return await self._put(f"staff:{staff.tenant_id}:{staff.staff_id}", staff)

    async def get_staff(self, tenant: str, staff_id: str) -> Staff:
        return await load(self.dapr, STORE, f"staff:{tenant}:{staff_id}", Staff,
                          f"staff {staff_id!r}")

    async def put_setting(self, tenant: str, name: str, value: str, scope: str,
                          target: str | None) -> Setting:
        key = f"settings:{tenant}"
        stored = await self.dapr.get_state(STORE, key) or {}
        stored[f"{scope}:{target or ''}:{name}"] = value
        await self.dapr.save_state(STORE, key, stored)
        return Setting(name=name, value=value, scope=scope)

    async def settings(self, tenant: str, store: str | None,
                       terminal: str | None) -> list[Setting]:
        """The settings in effect: a terminal's over its store's over the tenant's."""
        stored: dict[str, str] = await self.dapr.get_state(STORE, f"settings:{tenant}") or {}
        effective: dict[str, Setting] = {}
        for scope, target in (("tenant", ""), ("store", store), ("terminal", terminal)):
            if target is None:
                continue
            for key, value in stored.items():
                key_scope, key_target, name = key.split(":", 2)
                if (key_scope, key_target) == (scope, target):
                    effective[name] = Setting(name=name, value=value, scope=key_scope)
        return list(effective.values())

    async def _put(self, key: str, model: M) -> M:
        await self.dapr.save_state(STORE, key, model.model_dump(mode="json"))
        return model
