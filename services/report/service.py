"""Daily sales per store and terminal, from tranlog and open/close events. Domain errors only.

Each event is applied once: the day's totals and the ids of the events counted in them are one
key, written with its etag (IdempotentConsumer.apply), so no crash and no concurrent delivery
loses or doubles a sale.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from kugel_common.dapr import IdempotentConsumer
from kugel_common.repositories import NotFound, TerminalInfoWebRepository
from kugel_common.schemas import Tranlog

from ..errors import RejectedError
from .models import DailyReport, OpenCloseLog, TerminalDay, daily_key

Change = Callable[[DailyReport, TerminalDay], None]


class ReportService:
    def __init__(self, consumer: IdempotentConsumer,
                 terminals: TerminalInfoWebRepository) -> None:
        self.consumer, self.terminals = consumer, terminals

    async def daily(self, tenant: str, store: str, day: date) -> DailyReport:
        stored = await self.consumer.read(daily_key(tenant, store, day))
        if stored is None:
            return DailyReport(tenant_id=tenant, store_code=store, business_date=day)
        return DailyReport.model_validate(stored)

    async def record_sale(self, event_id: str, sale: Tranlog) -> None:
        def add(report: DailyReport, terminal: TerminalDay) -> None:
            report.count, report.total, report.tax = (report.count + 1, report.total + sale.total,
                                                      report.tax + sale.tax)
            terminal.count, terminal.total, terminal.tax = (
                terminal.count + 1, terminal.total + sale.total, terminal.tax + sale.tax)

        await self._apply(event_id, sale.tenant_id, sale.store_code, sale.business_date,
                          sale.terminal_id, add)

    async def record_open_close(self, event_id: str, log: OpenCloseLog) -> None:
        """Marks the terminal opened or closed; refuses a log of a terminal that the terminal
        service does not know, or of no business day."""
        try:
            await self.terminals.get_terminal(log.tenant_id, log.terminal_id)
        except NotFound as exc:
            raise RejectedError("unknown_terminal", f"no terminal {log.terminal_id!r}") from exc
        if log.business_date is None:
            raise RejectedError("no_business_date", "an open/close log needs its day")

        def mark(report: DailyReport, terminal: TerminalDay) -> None:
            if log.action == "open":
                terminal.opened = True
            else:
                terminal.closed = True

        await self._apply(event_id, log.tenant_id, log.store_code, log.business_date,
                          log.terminal_id, mark)

    async def _apply(self, event_id: str, tenant: str, store: str, day: date,
                     terminal_id: str, change: Change) -> None:
        def edit(current: object) -> object:
            report = (DailyReport.model_validate(current) if current is not None else
                      DailyReport(tenant_id=tenant, store_code=store, business_date=day))
            change(report, report.terminals.setdefault(terminal_id, TerminalDay()))
            return report.model_dump(mode="json")

        await self.consumer.apply(event_id, daily_key(tenant, store, day), edit)
