"""terminal's models, and where they live: stores and terminals in ``statestore``; opening
and closing publishes to ``topic-opencloselog``. Stores and terminals are ``schemas`` models."""

from datetime import date

from pydantic import BaseModel

from kugel_common.schemas import Code, Currency, Name, TerminalNo

STORE = "statestore"
PUBSUB, TOPIC = "pubsub-opencloselog-report", "topic-opencloselog"
PAGE = 50


class StoreIn(BaseModel):
    name: Name
    currency: Currency = "JPY"


class TerminalIn(BaseModel):
    store_code: Code
    terminal_no: TerminalNo


class SignIn(BaseModel):
    staff_id: Code


class OpenIn(BaseModel):
    business_date: date


def store_key(tenant: str, store: str) -> str:
    return f"store:{tenant}:{store}"


def terminal_key(tenant: str, terminal_id: str) -> str:
    return f"terminal:{tenant}:{terminal_id}"


def index_key(tenant: str) -> str:
    """The ids of the tenant's terminals."""
    return f"terminals:{tenant}"
