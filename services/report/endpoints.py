"""report's HTTP routes: each parses the request, calls the service and returns its answer."""

from datetime import date
from typing import Annotated

from kugel_common.fastapi import Provided
from kugel_common.schemas import Code

from ..common import tenant_router
from .containers import Container
from .models import DailyReport
from .service import ReportService

Reports = Annotated[ReportService, Provided(Container.report_service)]
router = tenant_router()


@router.get("/stores/{store}/daily")
async def daily(tenant_id: Code, store: Code, business_date: date,
                reports: Reports) -> DailyReport:
    return await reports.daily(tenant_id, store, business_date)
