"""journal's subscription: the handler validates the event and calls the service, which it
receives, built, from the container."""

from kugel_common.dapr import CloudEvent, Subscriber
from kugel_common.schemas import Tranlog

from .service import JournalService


def subscriptions(journal: JournalService) -> Subscriber:
    subscriber = Subscriber()

    @subscriber.subscribe("pubsub-tranlog-report", "topic-tranlog")
    async def on_tranlog(event: CloudEvent[Tranlog]) -> None:
        await journal.record_sale(event.id, event.data)

    return subscriber
