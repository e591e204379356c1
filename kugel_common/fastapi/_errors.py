"""One JSON error body for every kugel service: ``{"error": {"code", "message"}}``.

kugel's errors map to statuses here, in one place: not found is 404, a dependency that cannot
answer is 503 with ``Retry-After``, a request that does not validate is 422, an upstream answer
that does not fit the schema is 502.

An upstream 4xx is the caller's doing when the call carried the caller's input: the dependency
(a service, or the sidecar refusing a state key) judged it invalid. That is the caller's 422
(``rejected_by_dependency``), never a 502 that a calling service would retry and count
against this one. The 4xx answers that are not about the input keep their meaning: 404 stays
not found, 409 and 412 (another writer won) are a 409 conflict; 401, 403 and 407 refuse this
service's own credential, and 408 and 429 ask for patience, so those stay 502.

``ERROR_RESPONSES`` declares these bodies in the OpenAPI: pass it as ``responses=`` to a
router so that clients and API fuzzers know every status a route can answer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ..errors import (
    CircuitOpenError,
    ComponentNotFoundError,
    HttpClientError,
    NotFoundError,
    ServiceUnavailableError,
)
from ..repositories import BadUpstreamResponse, NotFound, RepositoryError, RepositoryUnavailable

__all__ = ["ERROR_RESPONSES", "ApiError", "ErrorBody", "error_response",
           "install_error_handlers"]

logger = logging.getLogger("kugel_common.fastapi")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None  # the validation errors, or what an upstream answer got wrong


class ErrorBody(BaseModel):
    """Every error a kugel service answers: ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorDetail


def _declared(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _declared("The body is not JSON"),
    401: _declared("No valid credential"),
    403: _declared("The credential may not act for this tenant"),
    404: _declared("Not found"),
    409: _declared("Conflicts with the resource's state, or another writer won"),
    422: _declared("The request does not validate, or a dependency refused its input"),
    502: _declared("A dependency answered outside its contract"),
    503: _declared("A dependency is unavailable; retry after Retry-After seconds"),
}

# Upstream 4xx answers that are not about the caller's input (see the module docstring).
_CONFLICT = frozenset({409, 412})
_NOT_THE_CALLERS = frozenset({401, 403, 407, 408, 429})


class ApiError(Exception):
    """Raise from an endpoint for a domain error: ``ApiError(409, "already_paid", "...")``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, *, details: Any = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status, headers=headers)


def _unavailable(message: str, retry_after: float | None, code: str) -> JSONResponse:
    seconds = max(1, math.ceil(retry_after or 1))
    return error_response(503, code, message, headers={"Retry-After": str(seconds)})


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return error_response(422, "validation_error", "the request is not valid", details=details)


def _upstream_status(exc: Exception) -> int | None:
    """The status the dependency answered, from a client error or a repository's. A missing
    Dapr component is a deployment error whatever status the sidecar gave it: None."""
    if isinstance(exc, ComponentNotFoundError):
        return None
    if isinstance(exc, HttpClientError | RepositoryError):
        return exc.status_code
    return None


async def _upstream(request: Request, exc: Exception) -> JSONResponse:
    """Errors of the services this one calls, whether raised by a repository or a client."""
    status = _upstream_status(exc)
    if isinstance(exc, NotFound | NotFoundError) or status == 404:
        return error_response(404, "not_found", str(exc))
    if status in _CONFLICT:
        return error_response(409, "conflict", str(exc))
    if status is not None and 400 <= status < 500 and status not in _NOT_THE_CALLERS:
        return error_response(422, "rejected_by_dependency", str(exc),
                              details={"status": status})
    if isinstance(exc, CircuitOpenError):
        return _unavailable(str(exc), exc.retry_after, "circuit_open")
    if isinstance(exc, RepositoryUnavailable | ServiceUnavailableError):
        retry_after = exc.retry_after if isinstance(exc, RepositoryUnavailable) else None
        return _unavailable(str(exc), retry_after, "dependency_unavailable")
    if isinstance(exc, BadUpstreamResponse):
        return error_response(502, "bad_upstream_response", str(exc),
                              details={"service": exc.service, "field": exc.field})
    logger.warning("upstream error: %s", exc)
    return error_response(502, "upstream_error", str(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: the same JSON body as every other error, and nothing of the exception in it
    (Starlette still logs it with its traceback)."""
    return error_response(500, "internal_error", "the service failed to handle the request")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RepositoryError, _upstream)
    app.add_exception_handler(HttpClientError, _upstream)
    app.add_exception_handler(Exception, _unexpected)
