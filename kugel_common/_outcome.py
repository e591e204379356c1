"""What one attempt's outcome means: for retries, for the breaker, for metrics, for the caller.

This is the one place where httpx's exceptions and status codes are read and mapped to kugel's.
"""

from __future__ import annotations

import enum

import httpx

from .errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    HttpClientError,
    NotFoundError,
    RequestRefusedError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnprocessableEntityError,
)

__all__ = ["Failure", "classify", "outcome_name", "status_and_error_type", "to_error"]

# Statuses that say "try again": the request did not take effect or the server is overloaded.
RETRYABLE_STATUSES = frozenset({408, 429, 502, 503, 504})

_REFUSALS: dict[int, type[RequestRefusedError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
}


class Failure(enum.StrEnum):
    """Why an attempt failed, from the dependency's side."""

    NOT_SENT = "connect"  # the request never reached the server: safe to retry any method
    TIMEOUT = "timeout"  # the server may have the request: retry only idempotent calls
    TRANSPORT = "transport"  # the connection broke mid-exchange: same as a timeout
    STATUS = "status"  # 5xx or 429
    CLIENT = "client"  # other 4xx: the server is healthy, the request was wrong


def classify(outcome: httpx.Response | BaseException) -> Failure | None:
    """None for a success, a caller-side error, or anything that is not kugel's to judge."""
    if isinstance(outcome, httpx.Response):
        status = outcome.status_code
        if status >= 500 or status == 429:
            return Failure.STATUS
        if status >= 400:
            return Failure.CLIENT
        return None
    if isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Failure.NOT_SENT
    if isinstance(outcome, httpx.TimeoutException | TimeoutError):
        return Failure.TIMEOUT
    if isinstance(outcome, httpx.TransportError):
        return Failure.TRANSPORT
    return None


def outcome_name(outcome: httpx.Response | BaseException) -> str:
    """An attempt's outcome in a word, for logs and spans: ``"503"``, ``"ConnectError"``."""
    if isinstance(outcome, httpx.Response):
        return str(outcome.status_code)
    return type(outcome).__name__


def status_and_error_type(outcome: httpx.Response | BaseException) -> tuple[int | None, str | None]:
    """``http.response.status_code`` and ``error.type`` as the OpenTelemetry HTTP conventions
    write them, for spans and metrics alike: the status of a response, or of the kugel error
    that stands for one; ``error.type`` is that status from 400 up, else the exception's class.
    """
    status = outcome.status_code if isinstance(outcome, httpx.Response | HttpClientError) else None
    if status is not None:
        return status, str(status) if status >= 400 else None
    if isinstance(outcome, BaseException):
        return None, type(outcome).__qualname__
    return None, None


def to_error(
    outcome: httpx.Response | BaseException, *, service: str, method: str, url: str
) -> HttpClientError:
    """The kugel error for a final outcome that failed."""
    if isinstance(outcome, httpx.Response):
        status = outcome.status_code
        cls: type[HttpClientError] = HttpClientError
        failure = classify(outcome)
        if failure is Failure.STATUS or status == 408:
            cls = ServiceUnavailableError
        elif failure is Failure.CLIENT:
            cls = _REFUSALS.get(status, RequestRefusedError)
        return cls(f"{service}: {method} {url} -> {status}", service=service, method=method,
                   url=url, status_code=status, response=outcome)
    if isinstance(outcome, TimeoutError):
        reason = "deadline exceeded"
        cls = ServiceUnavailableError
    else:
        reason = type(outcome).__name__
        cls = HttpClientError if classify(outcome) is None else ServiceUnavailableError
    return cls(f"{service}: {method} {url}: {reason}", service=service, method=method, url=url)
