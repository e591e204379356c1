"""How a service answers for its dependencies' errors: an upstream 4xx caused by the caller's
input is the caller's 422, never a 502 that the caller would retry and count."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from kugel_common.errors import (
    ComponentNotFoundError,
    DaprError,
    EtagMismatchError,
    HttpClientError,
    NotFoundError,
    ServiceUnavailableError,
)
from kugel_common.fastapi._errors import install_error_handlers
from kugel_common.repositories import RepositoryError

KEY_REFUSED = DaprError("state key refused", error_code="ERR_MALFORMED_REQUEST",
                        service="dapr", status_code=400)
CASES: list[tuple[Exception, int, str]] = [
    (KEY_REFUSED, 422, "rejected_by_dependency"),
    (HttpClientError("bad input", service="master-data", status_code=400), 422,
     "rejected_by_dependency"),
    (HttpClientError("too large", service="master-data", status_code=413), 422,
     "rejected_by_dependency"),
    (RepositoryError("master-data: refused", service="master-data", status_code=422), 422,
     "rejected_by_dependency"),
    (NotFoundError("gone", service="master-data", status_code=404), 404, "not_found"),
    (DaprError("no such key", service="dapr", status_code=404), 404, "not_found"),
    (EtagMismatchError("another writer", service="dapr", status_code=409), 409, "conflict"),
    (HttpClientError("precondition", service="terminal", status_code=412), 409, "conflict"),
    # Not the caller's doing: this service's own credential, or a deployment error.
    (HttpClientError("our token", service="terminal", status_code=401), 502, "upstream_error"),
    (HttpClientError("our token", service="terminal", status_code=403), 502, "upstream_error"),
    (ComponentNotFoundError("no store", service="dapr", status_code=400), 502,
     "upstream_error"),
    (RepositoryError("master-data: odd", service="master-data"), 502, "upstream_error"),
    (ServiceUnavailableError("down", service="terminal", status_code=503), 503,
     "dependency_unavailable"),
]


@pytest.mark.parametrize(("error", "status", "code"), CASES,
                         ids=[f"{type(e).__name__}-{e}" for e, _, _ in CASES])
async def test_upstream_errors_map_to_statuses(error: Exception, status: int,
                                               code: str) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/call")
    async def call() -> None:
        raise error

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://test") as client:
        reply = await client.get("/call")
    assert (reply.status_code, reply.json()["error"]["code"]) == (status, code)
    if code == "rejected_by_dependency":
        upstream = error.status_code  # type: ignore[attr-defined]
        assert reply.json()["error"]["details"] == {"service": error.service,  # type: ignore[attr-defined]
                                                    "status": upstream}
