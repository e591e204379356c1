"""One JSON error body for every kugel service:
``{"error": {"code", "message", "request_id", "details"?}}``.

``code`` is stable, for clients to branch on; ``message`` says what to do; ``request_id`` is
also in the ``X-Request-ID`` header and in this service's log line for the error, so a
client's report meets the log. kugel's errors map to statuses here, in one place: not found is
404, a dependency that cannot answer is 503 with ``Retry-After``, a request that does not
validate is 422, an upstream answer that does not fit the schema is 502 (the rules for
dependencies are in :mod:`._upstream`).

A message names a dependency by its service name, never its URL, nor what it answered:
those go to the log only, and into ``details.internal`` when ``KUGEL_ERROR_DETAILS=internal``.

``ERROR_RESPONSES`` declares these bodies in the OpenAPI: pass it as ``responses=`` to a
router so that clients and API fuzzers know every status a route can answer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from .._app_settings import ErrorDetails
from ..errors import HttpClientError, OutboxError
from ..repositories import RepositoryError
from ._request_id import HEADER, RequestIdMiddleware, current_request_id
from ._upstream import upstream_answer

__all__ = ["ERROR_RESPONSES", "ApiError", "ErrorBody", "error_response",
           "install_error_handlers"]

logger = logging.getLogger("kugel_common.fastapi")

class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for clients to branch on")
    message: str = Field(description="What happened and what to do, for people")
    request_id: str = Field(description="Also in the X-Request-ID header and the service's "
                            "log line for this error")
    details: Any = Field(None, description="The validation errors, or which dependency failed "
                         "and how")


class ErrorBody(BaseModel):
    """Every error a kugel service answers:
    ``{"error": {"code", "message", "request_id", "details"?}}``."""

    error: ErrorDetail


_REQUEST_ID_HEADER = {HEADER: {"description": "The request's id, as in the body",
                               "schema": {"type": "string"}}}


def _declared(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description, "headers": _REQUEST_ID_HEADER}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _declared("The body is not JSON"),
    401: _declared("No valid credential"),
    403: _declared("The credential may not act for this tenant"),
    404: _declared("Not found"),
    409: _declared("Conflicts with the resource's state, or another writer won"),
    422: _declared("The request does not validate, or a dependency refused its input"),
    502: _declared("A dependency answered outside its contract"),
    503: _declared("A dependency, or the outbox, is unavailable; retry after Retry-After "
                   "seconds"),
}


class ApiError(Exception):
    """Raise from an endpoint for a domain error: ``ApiError(409, "already_paid", "...")``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, *, details: Any = None,
                   headers: Mapping[str, str] | None = None,
                   request_id: str | None = None) -> JSONResponse:
    """kugel's error body; ``request_id`` defaults to the id of the request being served."""
    error: dict[str, Any] = {"code": code, "message": message,
                             "request_id": request_id or current_request_id() or uuid.uuid4().hex}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status, headers=headers)


def _logged(request: Request, response: JSONResponse, code: str, detail: str) -> JSONResponse:
    """One log line per error, with the request id the client was given."""
    status = response.status_code
    level = (logging.ERROR if status == 500 else logging.WARNING if status >= 500
             else logging.INFO)
    request_id = getattr(request.state, "request_id", None) or current_request_id()
    logger.log(level, "%s %s -> %d %s [request_id=%s]: %s", request.method, request.url.path,
               status, code, request_id, detail)
    return response


def _internal(request: Request) -> bool:
    details: ErrorDetails = getattr(request.app.state, "kugel_error_details", "public")
    return details == "internal"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = error_response(exc.status, exc.code, exc.message, headers=exc.headers)
    return _logged(request, response, exc.code, exc.message)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    response = error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)
    return _logged(request, response, code, str(exc.detail))


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    response = error_response(422, "validation_error", "the request is not valid",
                              details=details)
    return _logged(request, response, "validation_error", f"{len(details)} problem(s)")


async def _upstream(request: Request, exc: Exception) -> JSONResponse:
    """Errors of the services this one calls, whether raised by a repository or a client:
    the caller learns which and what happened, the log also where (the URL) and the answer."""
    assert isinstance(exc, RepositoryError | HttpClientError)
    answer = upstream_answer(exc)
    details = dict(answer.details)
    if _internal(request):
        details["internal"] = str(exc)
    response = error_response(answer.status, answer.code, answer.message, details=details,
                              headers=answer.headers)
    return _logged(request, response, answer.code, str(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: the same JSON body as every other error, and nothing of the exception in it
    (the server logs it with its traceback). This runs outside the request id's middleware,
    so it sets the header itself."""
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    details = {"internal": f"{type(exc).__name__}: {exc}"} if _internal(request) else None
    response = error_response(500, "internal_error", "the service failed to handle the "
                              "request; report the request id", details=details,
                              headers={HEADER: request_id}, request_id=request_id)
    return _logged(request, response, "internal_error", f"{type(exc).__name__}: {exc}")


async def _outbox(request: Request, exc: Exception) -> JSONResponse:
    """The event of a change could not be recorded (disk full, a bad KUGEL_OUTBOX_PATH): the
    change's retry with the same id records it, so the caller is told to retry, and the log
    says which file failed."""
    response = error_response(503, "event_not_recorded", "the service could not record the "
                              "event of this change; retry the request with the same "
                              "identifiers after 1 s", headers={"Retry-After": "1"})
    return _logged(request, response, "event_not_recorded", str(exc))


def install_error_handlers(app: FastAPI, details: ErrorDetails = "public") -> None:
    """kugel's error bodies for every error, and a request id on every response.
    ``details="internal"`` adds what a dependency answered, and where, to the bodies."""
    app.state.kugel_error_details = details
    app.add_middleware(RequestIdMiddleware)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RepositoryError, _upstream)
    app.add_exception_handler(HttpClientError, _upstream)
    app.add_exception_handler(OutboxError, _outbox)
    app.add_exception_handler(Exception, _unexpected)
