"""master-data's HTTP routes: each parses the request, calls the service and returns its
answer. Every route needs an API key or a service JWT for the path's tenant."""

from typing import Annotated

from kugel_common.fastapi import Provided
from kugel_common.schemas import Code, Id, Item, ItemCode, Payment, Setting, Staff

from ..common import tenant_router
from .containers import Container
from .models import ItemIn, PaymentIn, SettingIn, StaffIn
from .service import MasterDataService

MasterData = Annotated[MasterDataService, Provided(Container.master_data_service)]
router = tenant_router()


@router.put("/stores/{store}/items/{code:path}")
async def put_item(tenant_id: Code, store: Code, code: ItemCode, body: ItemIn,
                   master: MasterData) -> Item:
    return await master.put_item(Item(tenant_id=tenant_id, store_code=store, item_code=code,
                                      **body.model_dump()))


@router.get("/stores/{store}/items/{code:path}")
async def get_item(tenant_id: Code, store: Code, code: ItemCode, master: MasterData) -> Item:
    return await master.get_item(tenant_id, store, code)


@router.put("/payments/{code}")
async def put_payment(tenant_id: Code, code: Code, body: PaymentIn,
                      master: MasterData) -> Payment:
    return await master.put_payment(Payment(tenant_id=tenant_id, payment_code=code,
                                            **body.model_dump()))


@router.get("/payments/{code}")
async def get_payment(tenant_id: Code, code: Code, master: MasterData) -> Payment:
    return await master.get_payment(tenant_id, code)


@router.put("/staff/{staff_id}")
async def put_staff(tenant_id: Code, staff_id: Code, body: StaffIn, master: MasterData) -> Staff:
    return await master.put_staff(Staff(tenant_id=tenant_id, staff_id=staff_id,
                                        **body.model_dump()))


@router.get("/staff/{staff_id}")
async def get_staff(tenant_id: Code, staff_id: Code, master: MasterData) -> Staff:
    return await master.get_staff(tenant_id, staff_id)


@router.put("/settings/{name}")
async def put_setting(tenant_id: Code, name: Code, body: SettingIn,
                      master: MasterData) -> Setting:
    return await master.put_setting(tenant_id, name, body.value, body.scope, body.target)


@router.get("/settings")
async def get_settings(tenant_id: Code, master: MasterData, store: Code | None = None,
                       terminal: Id | None = None) -> list[Setting]:
    """The settings in effect: a terminal's over its store's over the tenant's."""
    return await master.settings(tenant_id, store, terminal)
