"""terminal's container: master-data's staff, and the terminal service."""

from dependency_injector import providers

from kugel_common.repositories import StaffMasterWebRepository

from ..common import ServiceContainer
from .service import TerminalService


class Container(ServiceContainer):
    staff_master = providers.Singleton(StaffMasterWebRepository, ServiceContainer.http_client,
                                       auth=ServiceContainer.own_token)

    terminal_service = providers.Singleton(TerminalService, ServiceContainer.dapr,
                                           ServiceContainer.outbox, staff_master)
