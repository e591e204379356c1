"""cart's HTTP routes: each parses the request, calls a service and returns its answer."""

from datetime import date
from typing import Annotated

from fastapi import Query

from kugel_common.fastapi import Provided
from kugel_common.schemas import Code, Cursor, Id, Page, Tranlog

from ..common import tenant_router
from .containers import Container
from .models import AddItem, AddPayment, CartView, NewCart
from .sales import SaleService
from .service import CartService

Carts = Annotated[CartService, Provided(Container.cart_service)]
Sales = Annotated[SaleService, Provided(Container.sale_service)]
router = tenant_router()


@router.post("/carts", status_code=201)
async def create_cart(tenant_id: Code, body: NewCart, carts: Carts) -> CartView:
    return await carts.create(tenant_id, body.terminal_id)


@router.get("/carts/{cart_id}")
async def get_cart(tenant_id: Code, cart_id: Id, carts: Carts) -> CartView:
    return await carts.get(tenant_id, cart_id)


@router.post("/carts/{cart_id}/items")
async def add_item(tenant_id: Code, cart_id: Id, body: AddItem, carts: Carts) -> CartView:
    return await carts.add_item(tenant_id, cart_id, body.item_code, body.quantity)


@router.post("/carts/{cart_id}/payments")
async def add_payment(tenant_id: Code, cart_id: Id, body: AddPayment, carts: Carts) -> CartView:
    return await carts.add_payment(tenant_id, cart_id, body.payment_code, body.amount)


@router.post("/carts/{cart_id}/complete")
async def complete(tenant_id: Code, cart_id: Id, sales: Sales) -> Tranlog:
    return await sales.complete(tenant_id, cart_id)


@router.get("/stores/{store}/terminals/{terminal}/transactions")
async def list_transactions(tenant_id: Code, store: Code, terminal: Id, business_date: date,
                            sales: Sales, cursor: Cursor = 0,
                            limit: Annotated[int, Query(gt=0, le=500)] = 100) -> Page[Tranlog]:
    """The day's sales, read from the numbers the terminal gave out: a number whose sale never
    committed has no tranlog and is skipped, so no list can disagree with the commits."""
    return await sales.transactions(tenant_id, store, terminal, business_date, cursor, limit)
