"""Typed web repositories: a service's data, fetched by name and returned as schema models."""

from ._base import WebRepository
from ._cart import TranlogWebRepository
from ._errors import BadUpstreamResponse, NotFound, RepositoryError, RepositoryUnavailable
from ._master_data import (
    ItemMasterWebRepository,
    PaymentMasterWebRepository,
    SettingsMasterWebRepository,
    StaffMasterWebRepository,
)
from ._terminal import StoreInfoWebRepository, TerminalInfoWebRepository

__all__ = [
    "BadUpstreamResponse",
    "ItemMasterWebRepository",
    "NotFound",
    "PaymentMasterWebRepository",
    "RepositoryError",
    "RepositoryUnavailable",
    "SettingsMasterWebRepository",
    "StaffMasterWebRepository",
    "StoreInfoWebRepository",
    "TerminalInfoWebRepository",
    "TranlogWebRepository",
    "WebRepository",
]
