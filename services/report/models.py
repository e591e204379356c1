"""report's models, and where they live: one daily report per store and day in
``statestore``, with the ids of the events counted in it."""

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from kugel_common.schemas import Code, Id, Money

STORE = "statestore"


class TerminalDay(BaseModel):
    count: int = 0
    total: Money = Decimal("0")
    tax: Money = Decimal("0")
    opened: bool = False
    closed: bool = False


class DailyReport(BaseModel):
    tenant_id: Code
    store_code: Code
    business_date: date
    count: int = 0
    total: Money = Decimal("0")
    tax: Money = Decimal("0")
    terminals: dict[str, TerminalDay] = {}


class OpenCloseLog(BaseModel):
    action: str
    tenant_id: Code
    store_code: Code
    terminal_id: Id
    business_date: date | None = None


def daily_key(tenant: str, store: str, day: date) -> str:
    return f"daily:{tenant}:{store}:{day.isoformat()}"
