"""Errors that callers can tell apart.

::

    HttpClientError                  any failed call; carries service, method, url, status_code
    ├── NotFoundError                the service answered 404
    ├── ResponseTooLargeError        the body passed max_response_bytes; reading stopped there
    ├── InvalidEndpointError         also a ValueError: the endpoint is not a relative path
    ├── ServiceNotConfiguredError    no address for the service; raised before any I/O
    └── ServiceUnavailableError      transport failure, timeout, or 5xx/429 after retries ran out
        └── CircuitOpenError         the breaker refused the call without sending it

Errors from httpx are mapped to these in one place (``kugel_common._outcome``), with the original
chained as ``__cause__``. ``url`` never contains the query string or credentials.
"""

from __future__ import annotations

import httpx

__all__ = [
    "CircuitOpenError",
    "HttpClientError",
    "InvalidEndpointError",
    "NotFoundError",
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


class ServiceNotConfiguredError(HttpClientError):
    """The registry has no address for the service. The message names the variable to set."""


class ServiceUnavailableError(HttpClientError):
    """The service could not give an answer in time: worth retrying later, not now."""


class CircuitOpenError(ServiceUnavailableError):
    """The breaker is open, so the call failed fast without touching the network."""

    def __init__(self, message: str, *, service: str, method: str = "", url: str = "",
                 retry_after: float = 0.0) -> None:
        super().__init__(message, service=service, method=method, url=url)
        self.retry_after = retry_after
