"""A standalone subscriber, as a user of kugel would write one: it counts every sale once."""

from decimal import Decimal
from typing import Any

from fastapi import APIRouter

from kugel_common.container import KugelContainer
from kugel_common.dapr import CloudEvent, Subscriber
from kugel_common.fastapi import create_app
from kugel_common.schemas import Tranlog

container = KugelContainer()
subscriber = Subscriber()
router = APIRouter()
KEY = "auditor:sales"


@subscriber.subscribe("pubsub-tranlog-report", "topic-tranlog")
async def on_tranlog(event: CloudEvent[Tranlog]) -> None:
    sale = event.data

    def count(seen: Any) -> Any:
        seen = seen or {"count": 0, "total": "0"}
        return {"count": seen["count"] + 1, "total": str(Decimal(seen["total"]) + sale.total)}

    await container.idempotent_consumer().apply(event.id, KEY, count)


@router.get("/api/v1/sales")
async def sales() -> Any:
    return await container.idempotent_consumer().read(KEY) or {"count": 0, "total": "0"}


app = create_app(container, [subscriber.router, router], title="auditor")
