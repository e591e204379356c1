"""cart's models, and where they live: carts, transaction counters and tranlogs in the state
store ``cartstore``; completed sales are published to ``topic-tranlog``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel

from kugel_common.schemas import (
    Amount,
    Code,
    Id,
    ItemCode,
    Quantity,
    Text,
    Tranlog,
    TranlogLine,
    TranlogPayment,
)

STORE = "cartstore"
PUBSUB, TOPIC = "pubsub-tranlog-report", "topic-tranlog"
CENT = Decimal("0.01")


class Cart(BaseModel):
    tenant_id: Code
    cart_id: Id
    store_code: Code
    terminal_id: Id
    business_date: date
    staff_id: Code | None
    receipt_header: Text = ""
    status: Literal["open", "completing", "completed"] = "open"
    lines: list[TranlogLine] = []
    payments: list[TranlogPayment] = []
    change: Decimal = Decimal("0")
    transaction_no: int | None = None
    completed_at: datetime | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal("0"))

    @property
    def tax(self) -> Decimal:
        """Prices include tax: each line's share is amount x rate / (1 + rate)."""
        return sum((cents(line.amount * line.tax_rate / (1 + line.tax_rate))
                    for line in self.lines), Decimal("0"))

    @property
    def key(self) -> str:
        return cart_key(self.tenant_id, self.cart_id)

    def view(self) -> CartView:
        return CartView(**self.model_dump(), total_amount=self.total, paid_amount=self.paid,
                        tax_amount=self.tax)


class CartView(Cart):
    total_amount: Decimal
    paid_amount: Decimal
    tax_amount: Decimal


class NewCart(BaseModel):
    terminal_id: Id


class AddItem(BaseModel):
    item_code: ItemCode
    quantity: Quantity = 1


class AddPayment(BaseModel):
    payment_code: Code
    amount: Amount


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def cart_key(tenant: str, cart_id: str) -> str:
    return f"cart:{tenant}:{cart_id}"


def tranlog_key(tenant: str, terminal: str, number: int | None) -> str:
    """The sale's tranlog; also its event's id, so a re-driven event is the same event."""
    return f"tranlog:{tenant}:{terminal}:{number}"


def counter_key(tenant: str, terminal: str) -> str:
    return f"txno:{tenant}:{terminal}"


def event_id(tranlog: Tranlog) -> str:
    return tranlog_key(tranlog.tenant_id, tranlog.terminal_id, tranlog.transaction_no)
