"""Stores and terminals: create, sign in, open and close. Domain errors only.

Opening and closing a terminal publishes an open/close log through the outbox.
"""

from __future__ import annotations

from datetime import date

from kugel_common.dapr import DaprClientHelper, Outbox
from kugel_common.repositories import NotFound, StaffMasterWebRepository
from kugel_common.schemas import Page, Store, Terminal

from ..errors import NotFoundError, RejectedError
from ..state import load, update
from .models import PAGE, PUBSUB, STORE, TOPIC, index_key, store_key, terminal_key


class TerminalService:
    def __init__(self, dapr: DaprClientHelper, outbox: Outbox,
                 staff: StaffMasterWebRepository) -> None:
        self.dapr, self.outbox, self.staff = dapr, outbox, staff

    async def put_store(self, store: Store) -> Store:
        await self.dapr.save_state(STORE, store_key(store.tenant_id, store.store_code),
                                   store.model_dump(mode="json"))
        return store

    async def get_store(self, tenant: str, store: str) -> Store:
        return await load(self.dapr, STORE, store_key(tenant, store), Store, f"store {store!r}")

    async def create_terminal(self, tenant: str, store: str, number: int) -> Terminal:
        await self.get_store(tenant, store)
        terminal = Terminal(tenant_id=tenant, store_code=store, terminal_no=number,
                            terminal_id=f"{tenant}-{store}-{number}")
        await self.dapr.save_state(STORE, terminal_key(tenant, terminal.terminal_id),
                                   terminal.model_dump(mode="json"))
        await update(self.dapr, STORE, index_key(tenant),
                     lambda ids: sorted({*(ids or []), terminal.terminal_id}))
        return terminal

    async def get_terminal(self, tenant: str, terminal_id: str) -> Terminal:
        return await load(self.dapr, STORE, terminal_key(tenant, terminal_id), Terminal,
                          f"terminal {terminal_id!r}")

    async def list_terminals(self, tenant: str, store: str | None,
                             cursor: int) -> Page[Terminal]:
        ids: list[str] = await self.dapr.get_state(STORE, index_key(tenant)) or []
        keys = [terminal_key(tenant, i) for i in ids]
        found = await self.dapr.get_bulk_state(STORE, keys)
        terminals = [Terminal.model_validate(found[k]) for k in keys if k in found]
        terminals = [t for t in terminals if store is None or t.store_code == store]
        page = terminals[cursor:cursor + PAGE]
        more = cursor + PAGE < len(terminals)
        return Page[Terminal](items=tuple(page), next_cursor=str(cursor + PAGE) if more else None)

    async def sign_in(self, tenant: str, terminal_id: str, staff_id: str) -> Terminal:
        try:
            await self.staff.get_staff(tenant, staff_id)
        except NotFound as exc:
            raise RejectedError("unknown_staff", f"no staff {staff_id!r}") from exc
        return await self._change(tenant, terminal_id, staff_id=staff_id)

    async def open(self, tenant: str, terminal_id: str, business_date: date) -> Terminal:
        terminal = await self._change(tenant, terminal_id, status="opened",
                                      business_date=business_date)
        await self._log(terminal, "open")
        return terminal

    async def close(self, tenant: str, terminal_id: str) -> Terminal:
        terminal = await self._change(tenant, terminal_id, status="closed")
        await self._log(terminal, "close")
        return terminal

    async def _change(self, tenant: str, terminal_id: str, **changes: object) -> Terminal:
        def apply(current: object) -> object:
            if current is None:
                raise NotFoundError(f"terminal {terminal_id!r} not found")
            terminal = Terminal.model_validate(current)
            return terminal.model_copy(update=changes).model_dump(mode="json")

        return Terminal.model_validate(
            await update(self.dapr, STORE, terminal_key(tenant, terminal_id), apply))

    async def _log(self, terminal: Terminal, action: str) -> None:
        """The id names the change, so a retried open or close publishes the same event again,
        which consumers drop as a duplicate, and never a second one."""
        event_id = (f"{action}:{terminal.tenant_id}:{terminal.terminal_id}:"
                    f"{terminal.business_date}")
        await self.outbox.publish(PUBSUB, TOPIC,
                                  {"action": action, **terminal.model_dump(mode="json")},
                                  event_id=event_id)
