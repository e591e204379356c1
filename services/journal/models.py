"""journal's models, and where they live: each sale as an entry in ``statestore`` under its
own key, and per terminal and day an index of the sales' numbers."""

from datetime import date

from pydantic import BaseModel

from kugel_common.schemas import Tranlog

STORE = "statestore"


class Journal(BaseModel):
    count: int
    entries: list[Tranlog]


class Reconciliation(BaseModel):
    cart: int
    journal: int
    missing_in_journal: list[int]


def index_key(tenant: str, terminal: str, day: date) -> str:
    return f"journal:{tenant}:{terminal}:{day.isoformat()}"


def entry_key(tenant: str, terminal: str, number: int) -> str:
    return f"entry:{tenant}:{terminal}:{number}"
