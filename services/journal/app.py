"""journal: every completed sale as a journal entry, searchable by terminal and date, and a
reconciliation against cart's own transaction list.

An entry's key is the sale's own, so writing it twice is harmless; the day's index takes each
event once (IdempotentConsumer.apply), so a crash between the two loses nothing.
"""

from datetime import date
from typing import Annotated

from dependency_injector import providers
from fastapi import FastAPI
from pydantic import BaseModel

from kugel_common import DaprClientHelper
from kugel_common.dapr import CloudEvent, IdempotentConsumer, Subscriber
from kugel_common.fastapi import Provided, create_app
from kugel_common.repositories import TranlogWebRepository
from kugel_common.schemas import Code, Id, Tranlog

from ..common import ServiceContainer, install_domain_errors, tenant_router

APP_ID = "journal"
STORE = "statestore"


class Container(ServiceContainer):
    tranlogs = providers.Singleton(TranlogWebRepository, ServiceContainer.http_client,
                                   auth=ServiceContainer.own_token)


class Journal(BaseModel):
    count: int
    entries: list[Tranlog]


class Reconciliation(BaseModel):
    cart: int
    journal: int
    missing_in_journal: list[int]


Dapr = Annotated[DaprClientHelper, Provided(Container.dapr)]
Consumer = Annotated[IdempotentConsumer, Provided(Container.idempotent_consumer)]
router = tenant_router()


def _index(tenant: str, terminal: str, day: date) -> str:
    return f"journal:{tenant}:{terminal}:{day.isoformat()}"


async def _entries(dapr: DaprClientHelper, consumer: IdempotentConsumer, tenant: str,
                   terminal: str, day: date) -> list[Tranlog]:
    numbers: list[int] = await consumer.read(_index(tenant, terminal, day)) or []
    keys = [f"entry:{tenant}:{terminal}:{n}" for n in numbers]
    found = await dapr.get_bulk_state(STORE, keys)
    return [Tranlog.model_validate(found[k]) for k in keys if k in found]


@router.get("/journal")
async def search(tenant_id: Code, terminal: Id, business_date: date, dapr: Dapr,
                 consumer: Consumer) -> Journal:
    entries = await _entries(dapr, consumer, tenant_id, terminal, business_date)
    return Journal(count=len(entries), entries=entries)


@router.get("/stores/{store}/terminals/{terminal}/reconcile")
async def reconcile(
    tenant_id: Code, store: Code, terminal: Id, business_date: date, dapr: Dapr,
    consumer: Consumer,
    tranlogs: Annotated[TranlogWebRepository, Provided(Container.tranlogs)],
) -> Reconciliation:
    journal = {t.transaction_no for t in await _entries(dapr, consumer, tenant_id, terminal,
                                                          business_date)}
    cart = [t.transaction_no async for t in tranlogs.list_transactions(
        tenant_id, store, terminal, business_date=business_date)]
    return Reconciliation(cart=len(cart), journal=len(journal),
                          missing_in_journal=[n for n in cart if n not in journal])


def subscriptions(container: Container) -> Subscriber:
    subscriber = Subscriber()

    @subscriber.subscribe("pubsub-tranlog-report", "topic-tranlog")
    async def on_tranlog(event: CloudEvent[Tranlog]) -> None:
        sale = event.data
        key = f"entry:{sale.tenant_id}:{sale.terminal_id}:{sale.transaction_no}"
        await container.dapr().save_state(STORE, key, sale.model_dump(mode="json"))
        await container.idempotent_consumer().apply(
            event.id, _index(sale.tenant_id, sale.terminal_id, sale.business_date),
            lambda numbers: sorted({*(numbers or []), sale.transaction_no}))

    return subscriber


def build(container: Container | None = None) -> FastAPI:
    """The app; tests pass a container with their overrides."""
    container = container or Container()
    routers = [router, subscriptions(container).router]
    return install_domain_errors(create_app(container, routers, title=APP_ID))


app = build()
