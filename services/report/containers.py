"""report's container: terminal's terminals, the report service and its subscriptions."""

from dependency_injector import providers

from kugel_common.repositories import TerminalInfoWebRepository

from ..common import ServiceContainer
from .service import ReportService
from .subscribers import subscriptions


class Container(ServiceContainer):
    terminals = providers.Singleton(TerminalInfoWebRepository, ServiceContainer.http_client,
                                    auth=ServiceContainer.own_token)

    report_service = providers.Singleton(ReportService, ServiceContainer.idempotent_consumer,
                                         terminals)
    subscriber = providers.Singleton(subscriptions, report_service)
