"""journal's container: cart's tranlogs, the journal service and its subscription."""

from dependency_injector import providers

from kugel_common.repositories import TranlogWebRepository

from ..common import ServiceContainer
from .service import JournalService
from .subscribers import subscriptions


class Container(ServiceContainer):
    tranlogs = providers.Singleton(TranlogWebRepository, ServiceContainer.http_client,
                                   auth=ServiceContainer.own_token)

    journal_service = providers.Singleton(JournalService, ServiceContainer.dapr,
                                          ServiceContainer.idempotent_consumer, tranlogs)
    subscriber = providers.Singleton(subscriptions, journal_service)
