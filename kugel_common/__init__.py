"""kugel: service-to-service calls for FastAPI microservices on Dapr."""

from ._app_settings import AppSettings
from ._auth import ApiKeyAuth, BasicAuth, BearerAuth, ServiceCredentials, TokenProvider
from ._breaker import BreakerState
from ._client import HttpClientHelper
from ._clock import Clock, SystemClock
from ._current import get_service_client, use_pool
from ._hooks import Hooks, RequestInfo, ResponseInfo
from ._paths import path
from ._pool import ServiceClientPool
from ._registry import Resolver, ServiceAddress, ServiceRegistry
from ._retry import set_testing
from ._settings import ClientSettings
from ._settings_check import SettingsError
from ._version import __version__
from .dapr import (
    BulkPublishResult,
    DaprClientHelper,
    StateEntry,
    StateOperation,
)
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

__all__ = [
    "ApiKeyAuth",
    "AppSettings",
    "BadRequestError",
    "BadSidecarReplyError",
    "BasicAuth",
    "BearerAuth",
    "BreakerState",
    "BulkPublishResult",
    "CircuitOpenError",
    "ClientSettings",
    "Clock",
    "ComponentNotFoundError",
    "ConflictError",
    "DaprCircuitOpenError",
    "DaprClientHelper",
    "DaprError",
    "DaprUnavailableError",
    "EtagMismatchError",
    "ForbiddenError",
    "Hooks",
    "HttpClientError",
    "HttpClientHelper",
    "InvalidEndpointError",
    "InvalidRequestError",
    "NoCurrentAppError",
    "NotFoundError",
    "OutboxError",
    "RequestInfo",
    "RequestRefusedError",
    "Resolver",
    "ResponseInfo",
    "ResponseTooLargeError",
    "ServiceAddress",
    "ServiceClientPool",
    "ServiceCredentials",
    "ServiceNotConfiguredError",
    "ServiceRegistry",
    "ServiceUnavailableError",
    "SettingsError",
    "StateEntry",
    "StateOperation",
    "SystemClock",
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
