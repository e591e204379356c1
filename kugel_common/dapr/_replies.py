"""What a sidecar reply means: the one place where Dapr's status codes and errorCodes are read."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .._redact import redact_url
from ..errors import (
    BadSidecarReplyError,
    CircuitOpenError,
    ComponentNotFoundError,
    DaprCircuitOpenError,
    DaprError,
    DaprUnavailableError,
    EtagMismatchError,
    HttpClientError,
    ServiceUnavailableError,
)

__all__ = ["decode_json", "error_body", "first_write_refused", "spares_breaker",
           "to_dapr_error"]

_COMPONENT_MISSING = frozenset({
    "ERR_PUBSUB_NOT_FOUND",
    "ERR_PUBSUB_NOT_CONFIGURED",
    "ERR_STATE_STORE_NOT_FOUND",
    "ERR_STATE_STORE_NOT_CONFIGURED",
})
# 5xx codes that report a bad request, not a sick sidecar or broker.
_CALLER_FAULTS = frozenset({"ERR_PUBSUB_CLOUD_EVENTS_SER", "ERR_STATE_TRANSACTION"})
# 5xx codes of a state call that report another component's failure: the state store is fine
# when daprd's transactional outbox cannot hand its intent to the pub/sub.
_OTHER_COMPONENT = frozenset({"ERR_PUBLISH_OUTBOX"})


def error_body(response: httpx.Response | None) -> dict[str, Any]:
    """The ``{"errorCode", "message"}`` body, or {} when the reply has none (e.g. 401's text)."""
    if response is None or not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(response: httpx.Response) -> str | None:
    code = error_body(response).get("errorCode")
    return code if isinstance(code, str) else None


def spares_breaker(response: httpx.Response) -> bool:
    """A 5xx that does not say this component is sick (a bad request, or another component's
    failure): the component's breaker must not count it."""
    return _error_code(response) in _CALLER_FAULTS | _OTHER_COMPONENT


def first_write_refused(response: httpx.Response) -> bool:
    """state.redis refuses a first-write save of an existing key with a plain 500
    ERR_STATE_SAVE, not a 409; the caller tells it from a store failure by reading the key."""
    return spares_breaker(response) or (
        response.status_code == 500 and _error_code(response) == "ERR_STATE_SAVE")


def to_dapr_error(error: HttpClientError) -> DaprError:
    """Map an HTTP error from the sidecar channel to the Dapr error a caller can act on."""
    if isinstance(error, DaprError):
        return error
    where = {"service": error.service, "method": error.method, "url": error.url}
    if isinstance(error, CircuitOpenError):
        return DaprCircuitOpenError(str(error), retry_after=error.retry_after, **where)
    body = error_body(error.response)
    code = None if error.response is None else _error_code(error.response)
    status = error.status_code
    cls: type[DaprError] = DaprError
    if code in _COMPONENT_MISSING:
        cls = ComponentNotFoundError
    elif status == 409:
        cls = EtagMismatchError
    elif code not in _CALLER_FAULTS and (
        isinstance(error, ServiceUnavailableError) or (status is not None and status >= 500)
    ):
        cls = DaprUnavailableError
    detail = body.get("message") or (error.response.text[:200] if error.response else str(error))
    message = f"{error.service}: {error.method} {error.url} -> {status or 'no answer'}"
    if code:
        message += f" {code}"
    return cls(f"{message}: {detail}", status_code=status, response=error.response,
               error_code=code, **where)


def decode_json(response: httpx.Response, service: str, what: str) -> Any:
    """The reply's JSON body, or a typed error that says which reply was malformed."""
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise BadSidecarReplyError(
            f"{service}: {what}: the sidecar's reply is not JSON",
            service=service, method=response.request.method,
            url=redact_url(response.request.url),
            status_code=response.status_code, response=response,
        ) from exc
