"""master-data's container: it calls no other service, so the service needs only Dapr."""

from dependency_injector import providers

from ..common import ServiceContainer
from .service import MasterDataService


class Container(ServiceContainer):
    master_data_service = providers.Singleton(MasterDataService, ServiceContainer.dapr)
