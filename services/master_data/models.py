"""master-data's request bodies, and where its data lives (``statestore``). What it stores
and answers are ``schemas`` models: Item, Payment, Staff, Setting."""

from typing import Literal

from pydantic import BaseModel, Field

from kugel_common.schemas import Code, Id, Name, Price, TaxRate, Text

STORE = "statestore"


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
