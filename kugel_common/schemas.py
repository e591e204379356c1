"""The shapes the point-of-sale services serve and the web repositories return, defined once.

Money is ``Decimal``, never a float, and travels as a JSON string (``"1.10"``) so that no
client rounds it. Tax rates are fractions (``Decimal("0.10")`` for 10 %).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

__all__ = [
    "Item",
    "Money",
    "Page",
    "Payment",
    "Setting",
    "Staff",
    "Store",
    "Terminal",
    "Tranlog",
    "TranlogLine",
    "TranlogPayment",
]

Money = Annotated[Decimal, PlainSerializer(lambda value: str(value), return_type=str)]
T = TypeVar("T")


class Schema(BaseModel):
    """Frozen, and tolerant of fields a newer service version adds."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Item(Schema):
    tenant_id: str
    store_code: str
    item_code: str
    description: str
    unit_price: Money
    tax_rate: Decimal = Field(ge=0, le=1)
    category: str = ""


class Payment(Schema):
    tenant_id: str
    payment_code: str
    description: str
    can_change: bool = False  # cash gives change; a card payment must match the amount
    can_refund: bool = True


class Setting(Schema):
    name: str
    value: str
    scope: Literal["tenant", "store", "terminal"] = "tenant"


class Staff(Schema):
    tenant_id: str
    staff_id: str
    name: str
    roles: tuple[str, ...] = ()


class Store(Schema):
    tenant_id: str
    store_code: str
    name: str
    currency: str = "JPY"


class Terminal(Schema):
    tenant_id: str
    store_code: str
    terminal_no: int
    terminal_id: str
    status: Literal["idle", "opened", "closed"] = "idle"
    business_date: date | None = None
    staff_id: str | None = None


class TranlogLine(Schema):
    item_code: str
    description: str
    quantity: int = Field(gt=0)
    unit_price: Money
    tax_rate: Decimal
    amount: Money  # quantity x unit_price, tax included


class TranlogPayment(Schema):
    payment_code: str
    amount: Money


class Tranlog(Schema):
    """A completed sale, as cart publishes it and report and journal consume it."""

    tenant_id: str
    store_code: str
    terminal_id: str
    transaction_no: int
    business_date: date
    staff_id: str | None = None
    lines: tuple[TranlogLine, ...]
    payments: tuple[TranlogPayment, ...]
    total: Money  # tax included
    tax: Money
    change: Money = Decimal("0")
    completed_at: datetime


class Page(Schema, Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last."""

    items: tuple[T, ...]
    next_cursor: str | None = None
