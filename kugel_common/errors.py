"""Errors that callers can tell apart.

::

    HttpClientError                  any failed call; carries service, method, url, status_code
    ├── RequestRefusedError          the service answered 4xx (not 408 or 429): fix the request
    │   ├── BadRequestError          400
    │   ├── UnauthorizedError        401: no or wrong credentials
    │   ├── ForbiddenError           403: valid credentials, not allowed
    │   ├── NotFoundError            404
    │   ├── ConflictError            409: the resource's state forbids it (a duplicate, a race)
    │   └── UnprocessableEntityError 422: the service validated the request and refused it
    ├── InvalidRequestError          also a ValueError: the request cannot be sent as given (a
    │   │                            header with CR/LF, a URL too long, a body that cannot be
    │   │                            encoded); raised before sending, never retried or counted
    │   └── InvalidEndpointError     not a relative path, or a dot segment that leaves the base
    ├── WrongEventLoopError          also a RuntimeError: a pool used from another event loop
    ├── ResponseTooLargeError        the body passed max_response_bytes; reading stopped there
    ├── ServiceNotConfiguredError    no address for the service; raised before any I/O
    ├── DaprError                    the Dapr sidecar refused a call: error_code, status_code
    │   ├── EtagMismatchError        409 on save or delete (also a ConflictError)
    │   ├── ComponentNotFoundError   no such pub/sub or state store, or none loaded
    │   ├── BadSidecarReplyError     the sidecar's answer does not have the documented shape
    │   └── DaprUnavailableError     (also a ServiceUnavailableError) sidecar or broker down
    │       └── DaprCircuitOpenError (also a CircuitOpenError)
    └── ServiceUnavailableError      transport failure, timeout, or 5xx/429 after retries ran out
        └── CircuitOpenError         the breaker refused the call without sending it

    OutboxError                      the outbox's own storage failed (disk full, read-only,
                                     locked, corrupt): the event was not accepted
    NoCurrentAppError                also a RuntimeError: get_service_client() outside an app

Errors from httpx are mapped to these in one place (``kugel_common._outcome``), with the original
chained as ``__cause__``; sidecar replies are mapped in ``kugel_common.dapr._replies``. ``url``
never contains the query string or credentials.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "BadRequestError",
    "BadSidecarReplyError",
    "CircuitOpenError",
    "ComponentNotFoundError",
    "ConflictError",
    "DaprCircuitOpenError",
    "DaprError",
    "DaprUnavailableError",
    "EtagMismatchError",
    "ForbiddenError",
    "HttpClientError",
    "InvalidEndpointError",
    "InvalidRequestError",
    "NoCurrentAppError",
    "NotFoundError",
    "OutboxError",
    "RequestRefusedError",
    "ResponseTooLargeError",
    "ServiceNotConfiguredError",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "WrongEventLoopError",
]


class HttpClientError(Exception):
    """Base of every error a service call raises."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        method: str = "",
        url: str = "",
        status_code: int | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.method = method
        self.url = url
        self.status_code = status_code
        self.response = response


class RequestRefusedError(HttpClientError):
    """The service is healthy and refused this request: retrying it unchanged cannot help, and
    it never counts against the service's breaker."""


class BadRequestError(RequestRefusedError):
    """400."""


class UnauthorizedError(RequestRefusedError):
    """401: the credentials are missing, expired or wrong."""


class ForbiddenError(RequestRefusedError):
    """403: the credentials are valid but do not allow this."""


class NotFoundError(RequestRefusedError):
    """404: the resource does not exist."""


class ConflictError(RequestRefusedError):
    """409: the resource's current state forbids the change; read it again before retrying."""


class UnprocessableEntityError(RequestRefusedError):
    """422: the body or parameters failed the service's validation."""


class InvalidRequestError(HttpClientError, ValueError):
    """The request cannot be sent as given. Raised before any I/O, so nothing was sent, and it
    is the caller's to fix: it is never retried and never counts against the breaker."""


class InvalidEndpointError(InvalidRequestError):
    """An endpoint must be a path under the service's base, so neither an absolute URL nor a dot
    segment (``..``, ``%2e%2e``) can bypass discovery or reach another API of the host."""


class WrongEventLoopError(HttpClientError, RuntimeError):
    """Pools and breakers belong to the event loop that first used them; create one per loop."""


class NoCurrentAppError(RuntimeError):
    """``get_service_client`` was called where no app (and no ``use_pool``) set a pool: a
    programming error, not a failed call, so it is not an ``HttpClientError``."""


class ResponseTooLargeError(HttpClientError):
    """Reading the body would pass ``max_response_bytes``."""


class ServiceNotConfiguredError(HttpClientError):
    """The registry has no address for the service. The message names the variable to set."""


class ServiceUnavailableError(HttpClientError):
    """The service could not give an answer in time: worth retrying later, not now."""


class CircuitOpenError(ServiceUnavailableError):
    """The breaker is open, so the call failed fast without touching the network."""

    def __init__(self, message: str, *, retry_after: float = 0.0, **where: Any) -> None:
        super().__init__(message, **where)
        self.retry_after = retry_after


class DaprError(HttpClientError):
    """The sidecar answered with an error. ``error_code`` is its ``errorCode``, e.g.
    ``ERR_STATE_SAVE``; match on it, never on the message."""

    def __init__(self, message: str, *, error_code: str | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        self.error_code = error_code


class EtagMismatchError(DaprError, ConflictError):
    """Optimistic concurrency lost: read the key again, then retry the write."""


class ComponentNotFoundError(DaprError):
    """No pub/sub or state store of that name is loaded for this app (a deployment error)."""


class BadSidecarReplyError(DaprError):
    """The sidecar's reply does not match Dapr's documented shape; nothing was assumed."""


class DaprUnavailableError(DaprError, ServiceUnavailableError):
    """The sidecar, or the broker or store behind it, could not serve the call: try later."""


class DaprCircuitOpenError(DaprUnavailableError, CircuitOpenError):
    """The component's breaker is open, so the call failed fast without touching the sidecar."""

    def __init__(self, message: str, *, retry_after: float = 0.0, **where: Any) -> None:
        super().__init__(message, **where)
        self.retry_after = retry_after


class OutboxError(Exception):
    """The outbox could not use its storage. From ``publish``: the event was **not** accepted,
    so the caller may retry or fail the request; nothing accepted before is lost. ``path`` is
    the outbox file, ``reason`` SQLite's own words ("database or disk is full", "database is
    locked", "attempt to write a readonly database", "database disk image is malformed")."""

    def __init__(self, message: str, *, path: str, reason: str) -> None:
        super().__init__(message)
        self.path, self.reason = path, reason
