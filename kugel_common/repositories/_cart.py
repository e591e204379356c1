"""Repository over cart: completed transactions (tranlogs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

from ..schemas import Tranlog
from ._base import WebRepository
from ._pages import paginate

__all__ = ["TranlogWebRepository"]


class TranlogWebRepository(WebRepository):
    service = "cart"

    def list_transactions(self, tenant: str, store: str, terminal: str, *,
                          business_date: date | None = None,
                          page_size: int = 100) -> AsyncIterator[Tranlog]:
        """Every matching transaction, oldest first; pages are fetched as iteration needs them."""
        return paginate(
            self, Tranlog, "/tenants/{tenant}/stores/{store}/terminals/{terminal}/transactions",
            {"tenant": tenant, "store": store, "terminal": terminal},
            params={"business_date": business_date, "limit": page_size})
