"""Repositories over terminal: stores and terminals."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..schemas import Store, Terminal
from ._base import WebRepository
from ._pages import paginate

__all__ = ["StoreInfoWebRepository", "TerminalInfoWebRepository"]


class StoreInfoWebRepository(WebRepository):
    service = "terminal"

    async def get_store(self, tenant: str, store_code: str) -> Store:
        return await self.fetch(Store, "/tenants/{tenant}/stores/{store}", tenant=tenant,
                                store=store_code)


class TerminalInfoWebRepository(WebRepository):
    service = "terminal"

    async def get_terminal(self, tenant: str, terminal_id: str) -> Terminal:
        return await self.fetch(Terminal, "/tenants/{tenant}/terminals/{terminal}",
                                tenant=tenant, terminal=terminal_id)

    def list_terminals(self, tenant: str, *, store: str | None = None) -> AsyncIterator[Terminal]:
        return paginate(self, Terminal, "/tenants/{tenant}/terminals", {"tenant": tenant},
                        params={"store": store})
