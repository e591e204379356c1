"""One JSON error body for every kugel service: ``{"error": {"code", "message"}}``.

kugel's errors map to statuses here, in one place: not found is 404, a dependency that cannot
answer is 503 with ``Retry-After``, a request that does not validate is 422, an upstream answer
that does not fit the schema is 502.

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

from ..errors import CircuitOpenError, HttpClientError, NotFoundError, ServiceUnavailableError
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
    422: _declared("The request does not validate"),
    502: _declared("A dependency answered outside its contract"),
    503: _declared("A dependency is unavailable; retry after Retry-After seconds"),
}


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


async def _upstream(request: Request, exc: Exception) -> JSONResponse:
    """Errors of the services this one calls, whether raised by a repository or a client."""
    if isinstance(exc, NotFound | NotFoundError):
        return error_response(404, "not_found", str(exc))
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RepositoryError, _upstream)
    app.add_exception_handler(HttpClientError, _upstream)
