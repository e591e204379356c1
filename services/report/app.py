"""report: daily sales per store and terminal, from tranlog and open/close events.

Each event is applied once: the day's totals and the ids of the events counted in them are one
key, written with its etag (IdempotentConsumer.apply), so no crash and no concurrent delivery
loses or doubles a sale.
"""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from dependency_injector import providers
from fastapi import FastAPI
from pydantic import BaseModel

from kugel_common.dapr import CloudEvent, DropEvent, IdempotentConsumer, Subscriber
from kugel_common.fastapi import Provided, create_app
from kugel_common.repositories import NotFound, TerminalInfoWebRepository
from kugel_common.schemas import Code, Id, Money, Tranlog

from ..common import ServiceContainer, install_domain_errors, tenant_router

APP_ID = "report"
STORE = "statestore"


class Container(ServiceContainer):
    terminals = providers.Singleton(TerminalInfoWebRepository, ServiceContainer.http_client,
                                    auth=ServiceContainer.own_token)


class TerminalDay(BaseModel):
    count: int = 0
    total: Money = Decimal("0")
    tax: Money = Decimal("0")
    opened: bool = False
    closed: bool = False


class DailyReport(BaseModel):
    tenant_id: Code
    store_code: Code
    business_date: date
    count: int = 0
    total: Money = Decimal("0")
    tax: Money = Decimal("0")
    terminals: dict[str, TerminalDay] = {}


class OpenCloseLog(BaseModel):
    action: str
    tenant_id: Code
    store_code: Code
    terminal_id: Id
    business_date: date | None = None


router = tenant_router()


@router.get("/stores/{store}/daily")
async def daily(tenant_id: Code, store: Code, business_date: date,
                consumer: Annotated[IdempotentConsumer,
                                    Provided(Container.idempotent_consumer)]
                ) -> DailyReport:
    stored = await consumer.read(_key(tenant_id, store, business_date))
    if stored is None:
        return DailyReport(tenant_id=tenant_id, store_code=store, business_date=business_date)
    return DailyReport.model_validate(stored)


def _key(tenant: str, store: str, day: date) -> str:
    return f"daily:{tenant}:{store}:{day.isoformat()}"


def subscriptions(container: Container) -> Subscriber:
    subscriber = Subscriber()

    async def apply(event_id: str, tenant: str, store: str, day: date, terminal_id: str,
                    change: Any) -> None:
        def edit(current: object) -> object:
            report = (DailyReport.model_validate(current) if current is not None else
                      DailyReport(tenant_id=tenant, store_code=store, business_date=day))
            terminal = report.terminals.setdefault(terminal_id, TerminalDay())
            change(report, terminal)
            return report.model_dump(mode="json")

        await container.idempotent_consumer().apply(event_id, _key(tenant, store, day), edit)

    @subscriber.subscribe("pubsub-tranlog-report", "topic-tranlog")
    async def on_tranlog(event: CloudEvent[Tranlog]) -> None:
        sale = event.data

        def add(report: DailyReport, terminal: TerminalDay) -> None:
            report.count, report.total, report.tax = (report.count + 1, report.total + sale.total,
                                                      report.tax + sale.tax)
            terminal.count, terminal.total, terminal.tax = (
                terminal.count + 1, terminal.total + sale.total, terminal.tax + sale.tax)

        await apply(event.id, sale.tenant_id, sale.store_code, sale.business_date,
                    sale.terminal_id, add)

    @subscriber.subscribe("pubsub-opencloselog-report", "topic-opencloselog")
    async def on_open_close(event: CloudEvent[OpenCloseLog]) -> None:
        log = event.data
        try:  # the terminal must exist at the terminal service
            await container.terminals().get_terminal(log.tenant_id, log.terminal_id)
        except NotFound as exc:
            raise DropEvent from exc
        if log.business_date is None:
            raise DropEvent

        def mark(report: DailyReport, terminal: TerminalDay) -> None:
            if log.action == "open":
                terminal.opened = True
            else:
                terminal.closed = True

        await apply(event.id, log.tenant_id, log.store_code, log.business_date,
                    log.terminal_id, mark)

    return subscriber


def build(container: Container | None = None) -> FastAPI:
    """The app; tests pass a container with their overrides."""
    container = container or Container()
    routers = [router, subscriptions(container).router]
    return install_domain_errors(create_app(container, routers, title=APP_ID))


app = build()
