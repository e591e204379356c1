"""The cart: open one on an open terminal, add items and payments. Domain errors only."""

from __future__ import annotations

import uuid
from decimal import Decimal

from kugel_common.dapr import DaprClientHelper
from kugel_common.repositories import (
    ItemMasterWebRepository,
    NotFound,
    PaymentMasterWebRepository,
    RepositoryUnavailable,
    SettingsMasterWebRepository,
    StoreInfoWebRepository,
    TerminalInfoWebRepository,
)
from kugel_common.schemas import TranlogLine, TranlogPayment

from ..errors import ConflictError, NotFoundError, RejectedError
from ..state import load, update
from .models import STORE, Cart, CartView, cart_key, cents


class CartService:
    def __init__(self, dapr: DaprClientHelper, items: ItemMasterWebRepository,
                 payments: PaymentMasterWebRepository, settings: SettingsMasterWebRepository,
                 terminals: TerminalInfoWebRepository, stores: StoreInfoWebRepository) -> None:
        self.dapr, self.items, self.payments = dapr, items, payments
        self.settings, self.terminals, self.stores = settings, terminals, stores

    async def create(self, tenant: str, terminal_id: str) -> CartView:
        try:
            terminal = await self.terminals.get_terminal(tenant, terminal_id)
        except NotFound as exc:
            raise RejectedError("unknown_terminal", f"no terminal {terminal_id!r}") from exc
        if terminal.status != "opened" or terminal.business_date is None:
            raise ConflictError("terminal_not_open", f"terminal {terminal_id} is not open")
        await self.stores.get_store(tenant, terminal.store_code)
        try:
            header = await self.settings.get_setting_value(tenant, "receipt_header",
                                                           store=terminal.store_code, default="")
        except RepositoryUnavailable:  # a receipt header is not worth refusing a sale for
            header = ""
        cart = Cart(tenant_id=tenant, cart_id=str(uuid.uuid4()), store_code=terminal.store_code,
                    terminal_id=terminal.terminal_id, business_date=terminal.business_date,
                    staff_id=terminal.staff_id, receipt_header=header or "")
        # A fresh uuid needs no first-write: on state.redis a key written first-write refuses
        # every later write without its etag, the completing transaction's included.
        await self.dapr.save_state(STORE, cart.key, cart.model_dump(mode="json"))
        return cart.view()

    async def get(self, tenant: str, cart_id: str) -> CartView:
        return (await load(self.dapr, STORE, cart_key(tenant, cart_id), Cart, "cart")).view()

    async def add_item(self, tenant: str, cart_id: str, item_code: str,
                       quantity: int) -> CartView:
        cart = await self._open_cart(tenant, cart_id)
        try:
            item = await self.items.get_item(tenant, cart.store_code, item_code)
        except NotFound as exc:
            raise RejectedError("unknown_item", f"no item {item_code!r}") from exc
        line = TranlogLine(item_code=item.item_code, description=item.description,
                           quantity=quantity, unit_price=item.unit_price,
                           tax_rate=item.tax_rate, amount=cents(item.unit_price * quantity))

        def add(current: object) -> object:
            cart = still_open(current)
            if cart.payments:
                raise ConflictError("payment_started", "items cannot change once payment began")
            cart.lines.append(line)
            return cart.model_dump(mode="json")

        return Cart.model_validate(await update(self.dapr, STORE, cart.key, add)).view()

    async def add_payment(self, tenant: str, cart_id: str, payment_code: str,
                          amount: Decimal) -> CartView:
        cart = await self._open_cart(tenant, cart_id)
        try:
            method = await self.payments.get_payment(tenant, payment_code)
        except NotFound as exc:
            raise RejectedError("unknown_payment", f"no payment {payment_code!r}") from exc

        def pay(current: object) -> object:
            cart = still_open(current)
            if not cart.lines:
                raise ConflictError("empty_cart", "add items before paying")
            remaining = cart.total - cart.paid
            if remaining <= 0:
                raise ConflictError("already_paid", "the cart is paid in full")
            if amount > remaining and not method.can_change:
                raise RejectedError("overpayment", f"{method.payment_code} gives no change")
            cart.payments.append(TranlogPayment(payment_code=method.payment_code, amount=amount))
            cart.change = max(Decimal("0"), cart.paid - cart.total)
            return cart.model_dump(mode="json")

        return Cart.model_validate(await update(self.dapr, STORE, cart.key, pay)).view()

    async def _open_cart(self, tenant: str, cart_id: str) -> Cart:
        cart = await load(self.dapr, STORE, cart_key(tenant, cart_id), Cart, "cart")
        return still_open(cart.model_dump(mode="json"))


def still_open(current: object) -> Cart:
    if current is None:
        raise NotFoundError("cart not found")
    cart = Cart.model_validate(current)
    if cart.status != "open":
        raise ConflictError("already_completed", "the cart is already completed")
    return cart
