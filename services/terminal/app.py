"""terminal: stores, terminals, sign-in, open and close (state store ``statestore``).

Opening and closing a terminal publishes an open/close log through the outbox.
"""

from datetime import date
from typing import Annotated

from dependency_injector import providers
from fastapi import FastAPI
from pydantic import BaseModel

from kugel_common import DaprClientHelper
from kugel_common.dapr import Outbox
from kugel_common.fastapi import ApiError, Provided, create_app
from kugel_common.repositories import NotFound, StaffMasterWebRepository
from kugel_common.schemas import Code, Currency, Cursor, Id, Name, Page, Store, Terminal, TerminalNo

from ..common import ServiceContainer, install_domain_errors, tenant_router
from ..state import load, update

APP_ID = "terminal"
STORE = "statestore"
PUBSUB, TOPIC = "pubsub-opencloselog-report", "topic-opencloselog"
PAGE = 50


class Container(ServiceContainer):
    staff_master = providers.Singleton(StaffMasterWebRepository, ServiceContainer.http_client,
                                       auth=ServiceContainer.own_token)


Dapr = Annotated[DaprClientHelper, Provided(Container.dapr)]
router = tenant_router()


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


@router.put("/stores/{store}")
async def put_store(tenant_id: Code, store: Code, body: StoreIn, dapr: Dapr) -> Store:
    info = Store(tenant_id=tenant_id, store_code=store, **body.model_dump())
    await dapr.save_state(STORE, f"store:{tenant_id}:{store}", info.model_dump(mode="json"))
    return info


@router.get("/stores/{store}")
async def get_store(tenant_id: Code, store: Code, dapr: Dapr) -> Store:
    return await _store(dapr, tenant_id, store)


@router.post("/terminals", status_code=201)
async def create_terminal(tenant_id: Code, body: TerminalIn, dapr: Dapr) -> Terminal:
    await _store(dapr, tenant_id, body.store_code)
    terminal = Terminal(tenant_id=tenant_id, store_code=body.store_code,
                        terminal_no=body.terminal_no,
                        terminal_id=f"{tenant_id}-{body.store_code}-{body.terminal_no}")
    await dapr.save_state(STORE, _key(tenant_id, terminal.terminal_id),
                          terminal.model_dump(mode="json"))
    await update(dapr, STORE, f"terminals:{tenant_id}",
                 lambda ids: sorted({*(ids or []), terminal.terminal_id}))
    return terminal


@router.get("/terminals/{terminal_id}")
async def get_terminal(tenant_id: Code, terminal_id: Id, dapr: Dapr) -> Terminal:
    return await load(dapr, STORE, _key(tenant_id, terminal_id), Terminal,
                      f"terminal {terminal_id!r}")


@router.get("/terminals")
async def list_terminals(tenant_id: Code, dapr: Dapr, store: Code | None = None,
                         cursor: Cursor = 0) -> Page[Terminal]:
    ids: list[str] = await dapr.get_state(STORE, f"terminals:{tenant_id}") or []
    found = await dapr.get_bulk_state(STORE, [_key(tenant_id, i) for i in ids])
    terminals = [Terminal.model_validate(found[_key(tenant_id, i)]) for i in ids
                 if _key(tenant_id, i) in found]
    terminals = [t for t in terminals if store is None or t.store_code == store]
    page = terminals[cursor:cursor + PAGE]
    more = cursor + PAGE < len(terminals)
    return Page[Terminal](items=tuple(page), next_cursor=str(cursor + PAGE) if more else None)


@router.post("/terminals/{terminal_id}/sign-in")
async def sign_in(tenant_id: Code, terminal_id: Id, body: SignIn, dapr: Dapr,
                  staff: Annotated[StaffMasterWebRepository,
                                   Provided(Container.staff_master)]) -> Terminal:
    try:
        await staff.get_staff(tenant_id, body.staff_id)
    except NotFound as exc:
        raise ApiError(422, "unknown_staff", f"no staff {body.staff_id!r}") from exc
    return await _change(dapr, tenant_id, terminal_id, staff_id=body.staff_id)


@router.post("/terminals/{terminal_id}/open")
async def open_terminal(tenant_id: Code, terminal_id: Id, body: OpenIn, dapr: Dapr,
                        outbox: Annotated[Outbox, Provided(Container.outbox)]) -> Terminal:
    terminal = await _change(dapr, tenant_id, terminal_id, status="opened",
                             business_date=body.business_date)
    await _log(outbox, terminal, "open")
    return terminal


@router.post("/terminals/{terminal_id}/close")
async def close_terminal(tenant_id: Code, terminal_id: Id, dapr: Dapr,
                         outbox: Annotated[Outbox, Provided(Container.outbox)]
                         ) -> Terminal:
    terminal = await _change(dapr, tenant_id, terminal_id, status="closed")
    await _log(outbox, terminal, "close")
    return terminal


async def _store(dapr: DaprClientHelper, tenant: str, store: str) -> Store:
    return await load(dapr, STORE, f"store:{tenant}:{store}", Store, f"store {store!r}")


def _key(tenant: str, terminal_id: str) -> str:
    return f"terminal:{tenant}:{terminal_id}"


async def _change(dapr: DaprClientHelper, tenant: str, terminal_id: str,
                  **changes: object) -> Terminal:
    def apply(current: object) -> object:
        if current is None:
            raise ApiError(404, "not_found", f"terminal {terminal_id!r} not found")
        return Terminal.model_validate(current).model_copy(update=changes).model_dump(mode="json")

    return Terminal.model_validate(await update(dapr, STORE, _key(tenant, terminal_id), apply))


async def _log(outbox: Outbox, terminal: Terminal, action: str) -> None:
    """The id names the change, so a retried open or close publishes the same event again,
    which consumers drop as a duplicate, and never a second one."""
    event_id = (f"{action}:{terminal.tenant_id}:{terminal.terminal_id}:"
                f"{terminal.business_date}")
    await outbox.publish(PUBSUB, TOPIC, {"action": action, **terminal.model_dump(mode="json")},
                         event_id=event_id)


def build(container: Container | None = None) -> FastAPI:
    """The app; tests pass a container with their overrides."""
    container = container or Container()
    return install_domain_errors(create_app(container, [router], title=APP_ID))


app = build()
