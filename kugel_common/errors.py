"""Errors that callers can tell apart.

::

    HttpClientError                  any failed call; carries service, method, url, status_code
    ├── NotFoundError                the service answered 404
    ├── ResponseTooLargeError        the body passed max_response_bytes; reading stopped there
    ├── InvalidEndpointError         also a ValueError: the endpoint is not a relative path
    ├── InvalidRequestError          also a ValueError: the request cannot be sent as given (a
    │                                body that cannot be encoded); raised before sending
    ├── ServiceNotConfiguredError    no address for the service; raised before any I/O
    ├── DaprError                    the Dapr sidecar refused a call: error_code, status_code
    │   ├── EtagMismatchError        409 on save or delete: someone else wrote first
    │   ├── ComponentNotFoundError   no such pub/sub or state store, or none loaded
    │   ├── BadSidecarReplyError     the sidecar's answer does not have the documented shape
    │   └── DaprUnavailableError     (also a ServiceUnavailableError) sidecar or broker down
    │       └── DaprCircuitOpenError (also a CircuitOpenError)
    └── ServiceUnavailableError      transport failure, timeout, or 5xx/429 after retries ran out
        └── CircuitOpenError         the breaker refused the call without sending it

    OutboxError                      the outbox's own storage failed (disk full, read-only,
                                     locked, corrupt): the event was not accepted

Errors from httpx are mapped to these in one place (``kugel_common._outcome``), with the original
chained as ``__cause__``; sidecar replies are mapped in ``kugel_common.dapr._replies``. ``url``
never contains the query string or credentials.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "BadSidecarReplyError",
    "CircuitOpenError",
    "ComponentNotFoundError",
    "DaprCircuitOpenError",
    "DaprError",
    "DaprUnavailableError",
    "EtagMismatchError",
    "HttpClientError",
    "InvalidEndpointError",
    "InvalidRequestError",
    "NotFoundError",
    "OutboxError",
    "ResponseTooLargeError",
    "ServiceNotConfiguredError",
    "ServiceUnavailableError",
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


class NotFoundError(HttpClientError):
    """The service is healthy and says the resource does not exist."""


class ResponseTooLargeError(HttpClientError):
    """Reading the body would pass ``max_response_bytes``."""


class InvalidEndpointError(HttpClientError, ValueError):
    """An endpoint must be a path relative to the service, so discovery cannot be bypassed."""


class InvalidRequestError(HttpClientError, ValueError):
    """The request cannot be sent as given. Raised before any I/O, so nothing was sent, and it
    is the caller's to fix: it is never retried and never counts against the breaker."""


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


class EtagMismatchError(DaprError):
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
