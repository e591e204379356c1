"""cart's container: the repositories it reads through, and its two services."""

from dependency_injector import providers

from kugel_common.repositories import (
    ItemMasterWebRepository,
    PaymentMasterWebRepository,
    SettingsMasterWebRepository,
    StoreInfoWebRepository,
    TerminalInfoWebRepository,
)

from ..common import ServiceContainer
from .sales import SaleService
from .service import CartService


class Container(ServiceContainer):
    items = providers.Singleton(ItemMasterWebRepository, ServiceContainer.http_client,
                                auth=ServiceContainer.own_token)
    payments = providers.Singleton(PaymentMasterWebRepository, ServiceContainer.http_client,
                                   auth=ServiceContainer.own_token)
    settings_master = providers.Singleton(SettingsMasterWebRepository, ServiceContainer.http_client,
                                          auth=ServiceContainer.own_token)
    terminals = providers.Singleton(TerminalInfoWebRepository, ServiceContainer.http_client,
                                    auth=ServiceContainer.own_token)
    stores = providers.Singleton(StoreInfoWebRepository, ServiceContainer.http_client,
                                 auth=ServiceContainer.own_token)

    cart_service = providers.Singleton(CartService, ServiceContainer.dapr, items, payments,
                                       settings_master, terminals, stores)
    sale_service = providers.Singleton(SaleService, ServiceContainer.dapr,
                                       ServiceContainer.outbox)
