"""report's subscriptions: each handler validates the event and calls the service, which it
receives, built, from the container; an event the service refuses goes to the dead letters."""

from kugel_common.dapr import CloudEvent, DropEvent, Subscriber
from kugel_common.schemas import Tranlog

from ..errors import RejectedError
from .models import OpenCloseLog
from .service import ReportService


def subscriptions(report: ReportService) -> Subscriber:
    subscriber = Subscriber()

    @subscriber.subscribe("pubsub-tranlog-report", "topic-tranlog")
    async def on_tranlog(event: CloudEvent[Tranlog]) -> None:
        await report.record_sale(event.id, event.data)

    @subscriber.subscribe("pubsub-opencloselog-report", "topic-opencloselog")
    async def on_open_close(event: CloudEvent[OpenCloseLog]) -> None:
        try:
            await report.record_open_close(event.id, event.data)
        except RejectedError as exc:  # redelivering it would never help
            raise DropEvent from exc

    return subscriber
