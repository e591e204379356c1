"""master-data: items, payments, staff and settings per tenant (state store ``statestore``).

Every route needs an API key or a service JWT for the path's tenant.
"""

from typing import Annotated, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field

from kugel_common import DaprClientHelper
from kugel_common.fastapi import Provided, create_app
from kugel_common.schemas import (
    Code,
    Id,
    Item,
    ItemCode,
    Name,
    Payment,
    Price,
    Setting,
    Staff,
    TaxRate,
    Text,
)

from ..common import ServiceContainer, install_domain_errors, tenant_router
from ..state import load

APP_ID = "master-data"
STORE = "statestore"
Dapr = Annotated[DaprClientHelper, Provided(ServiceContainer.dapr)]
router = tenant_router()


class ItemIn(BaseModel):
    description: Name
    unit_price: Price
    tax_rate: TaxRate
    category: Name = ""


class PaymentIn(BaseModel):
    description: Name
    can_change: bool = False
    can_refund: bool = True


class StaffIn(BaseModel):
    name: Name
    roles: tuple[Code, ...] = Field((), max_length=20)


class SettingIn(BaseModel):
    value: Text
    scope: Literal["tenant", "store", "terminal"] = "tenant"
    target: Id | None = None  # the store code or terminal id the setting is for


@router.put("/stores/{store}/items/{code:path}")
async def put_item(tenant_id: Code, store: Code, code: ItemCode, body: ItemIn,
                   dapr: Dapr) -> Item:
    item = Item(tenant_id=tenant_id, store_code=store, item_code=code, **body.model_dump())
    await dapr.save_state(STORE, f"item:{tenant_id}:{store}:{code}", item.model_dump(mode="json"))
    return item


@router.get("/stores/{store}/items/{code:path}")
async def get_item(tenant_id: Code, store: Code, code: ItemCode, dapr: Dapr) -> Item:
    return await load(dapr, STORE, f"item:{tenant_id}:{store}:{code}", Item, f"item {code!r}")


@router.put("/payments/{code}")
async def put_payment(tenant_id: Code, code: Code, body: PaymentIn, dapr: Dapr) -> Payment:
    payment = Payment(tenant_id=tenant_id, payment_code=code, **body.model_dump())
    await dapr.save_state(STORE, f"payment:{tenant_id}:{code}", payment.model_dump(mode="json"))
    return payment


@router.get("/payments/{code}")
async def get_payment(tenant_id: Code, code: Code, dapr: Dapr) -> Payment:
    return await load(dapr, STORE, f"payment:{tenant_id}:{code}", Payment, f"payment {code!r}")


@router.put("/staff/{staff_id}")
async def put_staff(tenant_id: Code, staff_id: Code, body: StaffIn, dapr: Dapr) -> Staff:
    staff = Staff(tenant_id=tenant_id, staff_id=staff_id, **body.model_dump())
    await dapr.save_state(STORE, f"staff:{tenant_id}:{staff_id}", staff.model_dump(mode="json"))
    return staff


@router.get("/staff/{staff_id}")
async def get_staff(tenant_id: Code, staff_id: Code, dapr: Dapr) -> Staff:
    return await load(dapr, STORE, f"staff:{tenant_id}:{staff_id}", Staff,
                      f"staff {staff_id!r}")


@router.put("/settings/{name}")
async def put_setting(tenant_id: Code, name: Code, body: SettingIn, dapr: Dapr) -> Setting:
    key = f"settings:{tenant_id}"
    stored = await dapr.get_state(STORE, key) or {}
    stored[f"{body.scope}:{body.target or ''}:{name}"] = body.value
    await dapr.save_state(STORE, key, stored)
    return Setting(name=name, value=body.value, scope=body.scope)


@router.get("/settings")
async def get_settings(tenant_id: Code, dapr: Dapr, store: Code | None = None,
                       terminal: Id | None = None) -> list[Setting]:
    """The settings in effect: a terminal's over its store's over the tenant's."""
    stored: dict[str, str] = await dapr.get_state(STORE, f"settings:{tenant_id}") or {}
    effective: dict[str, Setting] = {}
    for scope, target in (("tenant", ""), ("store", store), ("terminal", terminal)):
        if target is None:
            continue
        for key, value in stored.items():
            key_scope, key_target, name = key.split(":", 2)
            if (key_scope, key_target) == (scope, target):
                effective[name] = Setting(name=name, value=value, scope=key_scope)  # type: ignore[arg-type]
    return list(effective.values())


def build(container: ServiceContainer | None = None) -> FastAPI:
    """The app; tests pass a container with their overrides."""
    container = container or ServiceContainer()
    return install_domain_errors(create_app(container, [router], title=APP_ID))


app = build()
