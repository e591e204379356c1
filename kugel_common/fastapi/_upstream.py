"""What a caller is told when a dependency fails: a status, a code, and a message that names
the dependency by its service name and says what happened, never its URL or its answer's body.

An upstream 4xx is the caller's doing when the call carried the caller's input: the dependency
(a service, or the sidecar refusing a state key) judged it invalid. That is the caller's 422
(``rejected_by_dependency``), never a 502 that a calling service would retry and count
against this one. The 4xx answers that are not about the input keep their meaning: 404 stays
not found, 409 and 412 (another writer won) are a 409 conflict; 401, 403 and 407 refuse this
service's own credential, and 408 and 429 ask for patience, so those stay 502.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .._outcome import Failure, classify
from ..errors import (
    CircuitOpenError,
    ComponentNotFoundError,
    HttpClientError,
    NotFoundError,
    ServiceUnavailableError,
)
from ..repositories import BadUpstreamResponse, NotFound, RepositoryError, RepositoryUnavailable

__all__ = ["Answer", "upstream_answer"]

_CONFLICT = frozenset({409, 412})
_NOT_THE_CALLERS = frozenset({401, 403, 407, 408, 429})
_HAPPENED = {Failure.TIMEOUT: "did not answer in time", Failure.NOT_SENT: "could not be reached",
             Failure.TRANSPORT: "dropped the connection"}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] | None = None


def upstream_answer(exc: RepositoryError | HttpClientError) -> Answer:
    """The answer for a dependency's failure, from the error's fields only."""
    service = exc.service
    status = _upstream_status(exc)
    named = {"service": service}
    if isinstance(exc, NotFound | NotFoundError) or status == 404:
        return Answer(404, "not_found", f"{service} has no such resource; check the "
                      "identifiers in the request", named)
    if status in _CONFLICT:
        return Answer(409, "conflict", f"{service} refused the change: the resource changed "
                      "meanwhile, or its state forbids it; read it again before retrying", named)
    if status is not None and 400 <= status < 500 and status not in _NOT_THE_CALLERS:
        return Answer(422, "rejected_by_dependency", f"{service} refused the request's input "
                      f"({status}); correct the request before retrying",
                      {**named, "status": status})
    if isinstance(exc, RepositoryUnavailable | ServiceUnavailableError):
        return _unavailable(exc, service)
    if isinstance(exc, BadUpstreamResponse):
        return Answer(502, "bad_upstream_response", f"{service} answered in a shape this "
                      f"service cannot read (at {exc.field}); the request is not at fault",
                      {**named, "field": exc.field})
    if isinstance(exc, ComponentNotFoundError):
        return Answer(502, "upstream_error", f"{service} lacks a component this service needs; "
                      "the request is not at fault", named)
    said = "gave no answer" if status is None else f"answered {status}"
    return Answer(502, "upstream_error", f"{service} {said}, which this service cannot use; "
                  "the request is not at fault", named)


def _upstream_status(exc: RepositoryError | HttpClientError) -> int | None:
    """The status the dependency answered. A missing Dapr component is a deployment error
    whatever status the sidecar gave it: None."""
    return None if isinstance(exc, ComponentNotFoundError) else exc.status_code


def _unavailable(exc: Exception, service: str) -> Answer:
    """503 with ``Retry-After``, the same number of seconds in the message."""
    client = _client_error(exc)
    retry_after = getattr(exc, "retry_after", None) or getattr(client, "retry_after", None)
    seconds = max(1, math.ceil(retry_after or 1))
    code = "dependency_unavailable"
    if isinstance(client, CircuitOpenError):
        code, happened = "circuit_open", "is failing, so it is not called for now"
    else:
        happened = _what_happened(client)
    return Answer(503, code, f"{service} {happened}; retry after {seconds} s",
                  {"service": service}, {"Retry-After": str(seconds)})


def _what_happened(client: HttpClientError | None) -> str:
    failure = None if client is None or client.__cause__ is None else classify(client.__cause__)
    if failure in _HAPPENED:
        return _HAPPENED[failure]
    status = None if client is None else client.status_code
    if status is not None:
        return f"answered {status}"
    return "is unavailable"


def _client_error(exc: BaseException) -> HttpClientError | None:
    """The client's error behind a repository's (its cause), or the error itself."""
    for _ in range(3):
        if isinstance(exc, HttpClientError):
            return exc
        if exc.__cause__ is None:
            return None
        exc = exc.__cause__
    return None
