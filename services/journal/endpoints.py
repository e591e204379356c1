"""journal's HTTP routes: each parses the request, calls the service and returns its answer."""

from datetime import date
from typing import Annotated

from kugel_common.fastapi import Provided
from kugel_common.schemas import Code, Id

from ..common import tenant_router
from .containers import Container
from .models import Journal, Reconciliation
from .service import JournalService

Journals = Annotated[JournalService, Provided(Container.journal_service)]
router = tenant_router()


@router.get("/journal")
async def search(tenant_id: Code, terminal: Id, business_date: date,
                 journal: Journals) -> Journal:
    return await journal.search(tenant_id, terminal, business_date)


@router.get("/stores/{store}/terminals/{terminal}/reconcile")
async def reconcile(tenant_id: Code, store: Code, terminal: Id, business_date: date,
                    journal: Journals) -> Reconciliation:
    return await journal.reconcile(tenant_id, store, terminal, business_date)
