"""A standalone subscriber, as a user of kugel would write one: it counts every sale once.
``uvicorn --factory tests.chaos.auditor:build``."""

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI

from kugel_common.container import KugelContainer
from kugel_common.dapr import CloudEvent, IdempotentConsumer, Subscriber
from kugel_common.fastapi import Provided, create_app
from kugel_common.schemas import Tranlog

KEY = "auditor:sales"
EMPTY = {"count": 0, "total": "0"}
router = APIRouter()


def subscriptions(consumer: IdempotentConsumer) -> Subscriber:
    subscriber = Subscriber()

    @subscriber.subscribe("pubsub-tranlog-report", "topic-tranlog")
    async def on_tranlog(event: CloudEvent[Tranlog]) -> None:
        sale = event.data

        def count(seen: Any) -> Any:
            seen = seen or EMPTY
            return {"count": seen["count"] + 1,
                    "total": str(Decimal(seen["total"]) + sale.total)}

        await consumer.apply(event.id, KEY, count)

    return subscriber


@router.get("/api/v1/sales")
async def sales(
    consumer: Annotated[IdempotentConsumer, Provided(KugelContainer.idempotent_consumer)],
) -> Any:
    return await consumer.read(KEY) or EMPTY


def build() -> FastAPI:
    container = KugelContainer()
    subscriber = subscriptions(container.idempotent_consumer())
    return create_app(container, [subscriber.router, router], title="auditor")
