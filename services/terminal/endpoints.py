"""terminal's HTTP routes: each parses the request, calls the service and returns its answer."""

from typing import Annotated

from kugel_common.fastapi import Provided
from kugel_common.schemas import Code, Cursor, Id, Page, Store, Terminal

from ..common import tenant_router
from .containers import Container
from .models import OpenIn, SignIn, StoreIn, TerminalIn
from .service import TerminalService

Terminals = Annotated[TerminalService, Provided(Container.terminal_service)]
router = tenant_router()


@router.put("/stores/{store}")
async def put_store(tenant_id: Code, store: Code, body: StoreIn, terminals: Terminals) -> Store:
    return await terminals.put_store(Store(tenant_id=tenant_id, store_code=store,
                                           **body.model_dump()))


@router.get("/stores/{store}")
async def get_store(tenant_id: Code, store: Code, terminals: Terminals) -> Store:
    return await terminals.get_store(tenant_id, store)


@router.post("/terminals", status_code=201)
async def create_terminal(tenant_id: Code, body: TerminalIn, terminals: Terminals) -> Terminal:
    return await terminals.create_terminal(tenant_id, body.store_code, body.terminal_no)


@router.get("/terminals/{terminal_id}")
async def get_terminal(tenant_id: Code, terminal_id: Id, terminals: Terminals) -> Terminal:
    return await terminals.get_terminal(tenant_id, terminal_id)


@router.get("/terminals")
async def list_terminals(tenant_id: Code, terminals: Terminals, store: Code | None = None,
                         cursor: Cursor = 0) -> Page[Terminal]:
    return await terminals.list_terminals(tenant_id, store, cursor)


@router.post("/terminals/{terminal_id}/sign-in")
async def sign_in(tenant_id: Code, terminal_id: Id, body: SignIn,
                  terminals: Terminals) -> Terminal:
    return await terminals.sign_in(tenant_id, terminal_id, body.staff_id)


@router.post("/terminals/{terminal_id}/open")
async def open_terminal(tenant_id: Code, terminal_id: Id, body: OpenIn,
                        terminals: Terminals) -> Terminal:
    return await terminals.open(tenant_id, terminal_id, body.business_date)


@router.post("/terminals/{terminal_id}/close")
async def close_terminal(tenant_id: Code, terminal_id: Id, terminals: Terminals) -> Terminal:
    return await terminals.close(tenant_id, terminal_id)
