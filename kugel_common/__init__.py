"""kugel: service-to-service calls for FastAPI microservices on Dapr.

This package is the core: the pooled client, retries, the breaker, discovery, auth, errors and
testing. It imports neither FastAPI nor uvicorn; the layers that do are
``kugel_common.fastapi`` (the app factory, inbound auth, ``Provided``), ``kugel_common.dapr``
(sidecar client, outbox, subscribers) and ``kugel_common.dapr.sidecar`` (the local sidecar, a
development tool), each installed with its extra.

The names a service author writes are all here: the core's, and, loaded when first asked for,
the container, the FastAPI layer, the Dapr layer, the repositories' base and ``FakeClock``.
A name whose extra is not installed raises ``ModuleNotFoundError`` naming the extra.
The public modules (each with a pinned ``__all__``) are ``kugel_common``, ``.errors``,
``.testing``, ``.schemas``, ``.repositories``, ``.container``, ``.fastapi``, ``.dapr``,
``.dapr.sidecar`` and ``.pytest_plugin``; modules whose name starts with ``_`` are private.
"""

import importlib
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
    from .container import KugelContainer
    from .dapr import (
        CloudEvent,
        DaprClientHelper,
        DropEvent,
        IdempotentConsumer,
        Outbox,
        OutboxMessage,
        RetryLater,
        StateOperation,
        Subscriber,
    )
    from .fastapi import (
        ERROR_RESPONSES,
        ApiError,
        AppSettings,
        Principal,
        Provided,
        ServiceTokens,
        authenticated,
        create_app,
        error_response,
        issue_service_token,
    )
    from .repositories import (
        BadUpstreamResponse,
        NotFound,
        RepositoryError,
        RepositoryUnavailable,
        WebRepository,
    )
    from .testing import FakeClock

# Loaded when first asked for: pydantic-settings costs more to import than the rest of the core
# together, and the layers need their extras (fastapi, dependency-injector).
_LAZY = {
    "ClientSettings": "._settings",
    "KugelContainer": ".container",
    **dict.fromkeys(("CloudEvent", "DaprClientHelper", "DropEvent", "IdempotentConsumer",
                     "Outbox", "OutboxMessage", "RetryLater", "StateOperation", "Subscriber"),
                    ".dapr"),
    **dict.fromkeys(("ERROR_RESPONSES", "ApiError", "AppSettings", "Principal", "Provided",
                     "ServiceTokens", "authenticated", "create_app", "error_response",
                     "issue_service_token"), ".fastapi"),
    **dict.fromkeys(("BadUpstreamResponse", "NotFound", "RepositoryError",
                     "RepositoryUnavailable", "WebRepository"), ".repositories"),
    "FakeClock": ".testing",
}


def __getattr__(name: str) -> Any:
    """A lazy name's module is imported on first use; a missing extra raises
    ``ModuleNotFoundError`` with the ``pip install 'kugel[extra]'`` to run."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kugel_common' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # asked once
    return value


__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "ApiKeyAuth",
    "AppSettings",
    "BadRequestError",
    "BadSidecarReplyError",
    "BadUpstreamResponse",
    "BasicAuth",
    "BearerAuth",
    "BreakerChange",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStore",
    "CircuitOpenError",
    "ClientSettings",
    "Clock",
    "CloudEvent",
    "ComponentNotFoundError",
    "ConflictError",
    "DaprCircuitOpenError",
    "DaprClientHelper",
    "DaprError",
    "DaprUnavailableError",
    "DropEvent",
    "EtagMismatchError",
    "FakeClock",
    "ForbiddenError",
    "Hook",
    "HttpClientError",
    "HttpClientHelper",
    "IdempotentConsumer",
    "InvalidEndpointError",
    "InvalidRequestError",
    "KugelContainer",
    "NoCurrentAppError",
    "NotFound",
    "NotFoundError",
    "Outbox",
    "OutboxError",
    "OutboxMessage",
    "Principal",
    "Provided",
    "RepositoryError",
    "RepositoryUnavailable",
    "RequestDetails",
    "RequestRefusedError",
    "Resolver",
    "ResponseDetails",
    "ResponseTooLargeError",
    "RetryDetails",
    "RetryLater",
    "ServiceAddress",
    "ServiceClientPool",
    "ServiceCredentials",
    "ServiceNotConfiguredError",
    "ServiceRegistry",
    "ServiceTokens",
    "ServiceUnavailableError",
    "SettingsError",
    "StateOperation",
    "Subscriber",
    "TokenProvider",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "WebRepository",
    "WrongEventLoopError",
    "__version__",
    "authenticated",
    "create_app",
    "error_response",
    "get_service_client",
    "issue_service_token",
    "path",
    "set_testing",
    "use_pool",
]
