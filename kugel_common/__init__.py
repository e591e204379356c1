"""kugel: service-to-service calls for FastAPI microservices on Dapr."""

from ._app_settings import AppSettings
from ._auth import ApiKeyAuth, BasicAuth, BearerAuth, TokenProvider
from ._breaker import BreakerState
from ._client import HttpClientHelper
from ._clock import Clock, SystemClock
from ._hooks import Hooks, RequestInfo, ResponseInfo
from ._paths import path
from ._pool import (
    ServiceClientPool,
    breaker_state,
    close_all_clients,
    default_pool,
    get_service_client,
    isolate_breaker,
    metrics_snapshot,
    reset_breaker,
    reset_metrics,
    set_default_pool,
)
from ._registry import Resolver, ServiceAddress, ServiceRegistry
from ._retry import set_testing
from ._settings import ClientSettings
from ._version import __version__
from .dapr import (
    BulkPublishResult,
    DaprClientHelper,
    StateEntry,
    StateOperation,
    get_dapr_client,
    set_dapr_client,
)
from .errors import (
    BadSidecarReplyError,
    CircuitOpenError,
    ComponentNotFoundError,
    DaprCircuitOpenError,
    DaprError,
    DaprUnavailableError,
    EtagMismatchError,
    HttpClientError,
    InvalidEndpointError,
    InvalidRequestError,
    NotFoundError,
    OutboxError,
    ResponseTooLargeError,
    ServiceNotConfiguredError,
    ServiceUnavailableError,
)

__all__ = [
    "ApiKeyAuth",
    "AppSettings",
    "BadSidecarReplyError",
    "BasicAuth",
    "BearerAuth",
    "BreakerState",
    "BulkPublishResult",
    "CircuitOpenError",
    "ClientSettings",
    "Clock",
    "ComponentNotFoundError",
    "DaprCircuitOpenError",
    "DaprClientHelper",
    "DaprError",
    "DaprUnavailableError",
    "EtagMismatchError",
    "Hooks",
    "HttpClientError",
    "HttpClientHelper",
    "InvalidEndpointError",
    "InvalidRequestError",
    "NotFoundError",
    "OutboxError",
    "RequestInfo",
    "Resolver",
    "ResponseInfo",
    "ResponseTooLargeError",
    "ServiceAddress",
    "ServiceClientPool",
    "ServiceNotConfiguredError",
    "ServiceRegistry",
    "ServiceUnavailableError",
    "StateEntry",
    "StateOperation",
    "SystemClock",
    "TokenProvider",
    "__version__",
    "breaker_state",
    "close_all_clients",
    "default_pool",
    "get_dapr_client",
    "get_service_client",
    "isolate_breaker",
    "metrics_snapshot",
    "path",
    "reset_breaker",
    "reset_metrics",
    "set_dapr_client",
    "set_default_pool",
    "set_testing",
]
