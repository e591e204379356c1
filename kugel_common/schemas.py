"""The shapes the point-of-sale services serve and the web repositories return, defined once.

Money is ``Decimal``, never a float, and travels as a JSON string (``"1.10"``) so that no
client rounds it. Tax rates are fractions (``Decimal("0.10")`` for 10 %).

What a service accepts is bounded here, once, as reusable ``Annotated`` types, so that every
service refuses the same nonsense with a 422: codes and ids match a pattern that keeps them
safe inside state keys (no ``||``, no ``:``, no control characters, no leading dot), text has a
length limit and no control characters, amounts are finite with two decimal places and a
ceiling, counts are bounded integers.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from annotated_types import Ge, Le
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "MAX_AMOUNT",
    "Amount",
    "Code",
    "Currency",
    "Cursor",
    "Id",
    "Item",
    "ItemCode",
    "Money",
    "Name",
    "Page",
    "Payment",
    "Price",
    "Quantity",
    "Setting",
    "Staff",
    "Store",
    "TaxRate",
    "Terminal",
    "TerminalNo",
    "Text",
    "Tranlog",
    "TranlogLine",
    "TranlogPayment",
]

MAX_AMOUNT = Decimal("999999999.99")  # the largest price or payment a service accepts

Money = Annotated[Decimal, PlainSerializer(lambda value: format(value, "f"), return_type=str)]
"""An amount the service computed (a total, a tax): serialized as a fixed-point string."""
# What clients are told to send: the string form, as the services answer it.
_MONEY_IN = WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,2})?$",
                            "examples": ["1.10"]}, mode="validation")
Price = Annotated[Money, Field(ge=0, le=MAX_AMOUNT, decimal_places=2, allow_inf_nan=False),
                  _MONEY_IN]
"""A unit price: finite, 0 to ``MAX_AMOUNT``, at most two decimal places."""
Amount = Annotated[Money, Field(gt=0, le=MAX_AMOUNT, decimal_places=2, allow_inf_nan=False),
                   _MONEY_IN]
"""A payment: finite, more than 0, at most ``MAX_AMOUNT``, at most two decimal places."""
TaxRate = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4, allow_inf_nan=False),
                    WithJsonSchema({"type": "string", "examples": ["0.10"],
                                    "pattern": r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$"},
                                   mode="validation")]
"""A fraction from 0 to 1 (``0.10`` for 10 %)."""

# Bare constraints (no ``Field``), so that they also serve as path and query parameters.
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")]
"""A tenant, store, payment, staff or setting code: 1 to 64 of ``A-Z a-z 0-9 . _ -``, not
starting with a dot."""
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,159}$")]
"""A terminal or cart id: like a code, up to 160 characters (a terminal id joins the tenant,
the store and the terminal number)."""
ItemCode = Annotated[str, StringConstraints(
    max_length=64, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")]
"""An item code: codes joined by ``/`` (``A/1``), 64 characters at most, no dot segments."""
Name = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
"""A name or description: one line of at most 200 characters, no control characters."""
Text = Annotated[str, StringConstraints(
    max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
"""A setting's value: at most 2000 characters; tabs and line breaks, no other control
characters."""
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 code such as ``JPY``."""
Quantity = Annotated[int, Ge(1), Le(999)]
TerminalNo = Annotated[int, Ge(1), Le(9999)]
Cursor = Annotated[int, Ge(0), Le(1_000_000_000)]
"""Where a page starts: a position or a transaction number, never negative."""

T = TypeVar("T")


class Schema(BaseModel):
    """Frozen, and tolerant of fields a newer service version adds."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Item(Schema):
    tenant_id: Code
    store_code: Code
    item_code: ItemCode
    description: Name
    unit_price: Price
    tax_rate: TaxRate
    category: Name = ""


class Payment(Schema):
    tenant_id: Code
    payment_code: Code
    description: Name
    can_change: bool = False  # cash gives change; a card payment must match the amount
    can_refund: bool = True


class Setting(Schema):
    name: Code
    value: Text
    scope: Literal["tenant", "store", "terminal"] = "tenant"


class Staff(Schema):
    tenant_id: Code
    staff_id: Code
    name: Name
    roles: tuple[Code, ...] = Field((), max_length=20)


class Store(Schema):
    tenant_id: Code
    store_code: Code
    name: Name
    currency: Currency = "JPY"


class Terminal(Schema):
    tenant_id: Code
    store_code: Code
    terminal_no: TerminalNo
    terminal_id: Id
    status: Literal["idle", "opened", "closed"] = "idle"
    business_date: date | None = None
    staff_id: Code | None = None


class TranlogLine(Schema):
    item_code: ItemCode
    description: Name
    quantity: Quantity
    unit_price: Price
    tax_rate: TaxRate
    amount: Money  # quantity x unit_price, tax included


class TranlogPayment(Schema):
    payment_code: Code
    amount: Amount


class Tranlog(Schema):
    """A completed sale, as cart publishes it and report and journal consume it."""

    tenant_id: Code
    store_code: Code
    terminal_id: Id
    transaction_no: int
    business_date: date
    staff_id: Code | None = None
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
