"""kugel: service-to-service calls for FastAPI microservices on Dapr.

This package is the core: the pooled client, retries, the breaker, discovery, auth, errors and
testing. It imports neither FastAPI nor uvicorn; the layers that do are
``kugel_common.fastapi`` (the app factory, inbound auth, ``Provided``), ``kugel_common.dapr``
(sidecar client, outbox, subscribers) and ``kugel_common.dapr.sidecar`` (the local sidecar, a
development tool), each installed with its extra.
"""

from typing import TYPE_CHECKING, Any

from ._auth import ApiKeyAuth, BasicAuth, BearerAuth, ServiceCredentials, TokenProvider
from ._breaker import BreakerState
from ._breaker_store import BreakerSnapshot, BreakerStore
from ._client import HttpClientHelper
from ._clock import Clock
from ._current import get_service_client, use_pool
from ._hooks import (
    BreakerChange,
    Hook,
    RequestDetails,
    ResponseDetails,
    RetryDetails,
)
from ._paths import path
from ._pool import ServiceClientPool
from ._registry import Resolver, ServiceAddress, ServiceRegistry
from ._settings_check import SettingsError
from ._testing_mode import set_testing
from ._version import __version__
from .errors import (
    BadRequestError,
    BadSidecarReplyError,
    CircuitOpenError,
    ComponentNotFoundError,
    ConflictError,
    DaprCircuitOpenError,
    DaprError,
    DaprUnavailableError,
    EtagMismatchError,
    ForbiddenError,
    HttpClientError,
    InvalidEndpointError,
    InvalidRequestError,
    NoCurrentAppError,
    NotFoundError,
    OutboxError,
    RequestRefusedError,
    ResponseTooLargeError,
    ServiceNotConfiguredError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnprocessableEntityError,
    WrongEventLoopError,
)

if TYPE_CHECKING:
    from ._settings import ClientSettings


def __getattr__(name: str) -> Any:
    """``ClientSettings`` is built on pydantic-settings, which costs more to import than the
    rest of the core together: it is loaded when first asked for."""
    if name == "ClientSettings":
        from ._settings import ClientSettings

        return ClientSettings
    raise AttributeError(f"module 'kugel_common' has no attribute {name!r}")


__all__ = [
    "ApiKeyAuth",
    "BadRequestError",
    "BadSidecarReplyError",
    "BasicAuth",
    "BearerAuth",
    "BreakerChange",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStore",
    "CircuitOpenError",
    "ClientSettings",
    "Clock",
    "ComponentNotFoundError",
    "ConflictError",
    "DaprCircuitOpenError",
    "DaprError",
    "DaprUnavailableError",
    "EtagMismatchError",
    "ForbiddenError",
    "Hook",
    "HttpClientError",
    "HttpClientHelper",
    "InvalidEndpointError",
    "InvalidRequestError",
    "NoCurrentAppError",
    "NotFoundError",
    "OutboxError",
    "RequestDetails",
    "RequestRefusedError",
    "Resolver",
    "ResponseDetails",
    "ResponseTooLargeError",
    "RetryDetails",
    "ServiceAddress",
    "ServiceClientPool",
    "ServiceCredentials",
    "ServiceNotConfiguredError",
    "ServiceRegistry",
    "ServiceUnavailableError",
    "SettingsError",
    "TokenProvider",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "WrongEventLoopError",
    "__version__",
    "get_service_client",
    "path",
    "set_testing",
    "use_pool",
]
