"""The retry rules, table-driven over method x failure."""

from __future__ import annotations

import httpx
import pytest
from pytest_httpx import HTTPXMock

from kugel_common import ServiceClientPool, ServiceUnavailableError
from kugel_common.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    HttpClientError,
    InvalidRequestError,
    NotFoundError,
    RequestRefusedError,
    UnauthorizedError,
    UnprocessableEntityError,
)

URL = "http://svc.test/api/thing"
IDEMPOTENT = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]
UNSAFE = ["POST", "PATCH"]

# failure -> (retried for idempotent methods, retried for POST/PATCH)
EXCEPTIONS: dict[str, tuple[type[Exception], bool, bool]] = {
    "connect refused": (httpx.ConnectError, True, True),
    "connect timeout": (httpx.ConnectTimeout, True, True),
    "pool timeout": (httpx.PoolTimeout, True, True),
    "read timeout": (httpx.ReadTimeout, True, False),
    "write timeout": (httpx.WriteTimeout, True, False),
    "connection dropped": (httpx.RemoteProtocolError, True, False),
    "read error": (httpx.ReadError, True, False),
}
STATUSES: dict[int, bool] = {
    408: True, 429: True, 502: True, 503: True, 504: True,
    500: False, 501: False, 400: False, 401: False, 403: False, 404: False, 409: False,
    422: False, 410: False,
}
# The error class each status maps to: a caller can tell them apart without reading codes.
ERRORS: dict[int, type[HttpClientError]] = {
    400: BadRequestError, 401: UnauthorizedError, 403: ForbiddenError, 404: NotFoundError,
    409: ConflictError, 422: UnprocessableEntityError, 410: RequestRefusedError,
    408: ServiceUnavailableError, 429: ServiceUnavailableError,
}


@pytest.mark.parametrize("method", IDEMPOTENT + UNSAFE)
@pytest.mark.parametrize("failure", list(EXCEPTIONS))
async def test_transport_failures(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, method: str, failure: str
) -> None:
    exc_type, idempotent_retry, unsafe_retry = EXCEPTIONS[failure]
    retried = idempotent_retry if method in IDEMPOTENT else unsafe_retry
    for _ in range(3 if retried else 1):
        httpx_mock.add_exception(exc_type("boom"), url=URL, method=method)
    with pytest.raises(ServiceUnavailableError) as info:
        await pool.client("svc").request(method, "/thing")
    assert len(httpx_mock.get_requests()) == (3 if retried else 1)
    assert isinstance(info.value.__cause__, exc_type)


@pytest.mark.parametrize("method", IDEMPOTENT + UNSAFE)
@pytest.mark.parametrize("status", list(STATUSES))
async def test_statuses(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, method: str, status: int
) -> None:
    retried = STATUSES[status] and method in IDEMPOTENT
    for _ in range(3 if retried else 1):
        httpx_mock.add_response(url=URL, method=method, status_code=status)
    with pytest.raises(HttpClientError) as info:
        await pool.client("svc").request(method, "/thing")
    assert info.value.status_code == status
    assert len(httpx_mock.get_requests()) == (3 if retried else 1)
    expected = ERRORS.get(status, ServiceUnavailableError)
    assert type(info.value) is expected
    assert isinstance(info.value, RequestRefusedError) is (400 <= status < 500
                                                           and status not in (408, 429))


@pytest.mark.parametrize("method", UNSAFE)
async def test_idempotency_key_makes_post_retryable(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, method: str
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=URL, method=method)
    httpx_mock.add_response(url=URL, method=method, status_code=503)
    httpx_mock.add_response(url=URL, method=method, json={"ok": True})
    body = await pool.client("svc").request(
        method, "/thing", json={"a": 1}, headers={"Idempotency-Key": "k-1"}
    )
    assert body.json() == {"ok": True}
    assert len(httpx_mock.get_requests()) == 3


async def test_success_after_retry_returns_body(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=503)
    httpx_mock.add_response(url=URL, json={"n": 1})
    assert await pool.client("svc").get("/thing") == {"n": 1}
    snapshot = pool.metrics_snapshot()["svc"]["endpoints"]["/thing"]
    assert snapshot["retries"] == 1
    assert snapshot["successes"] == 1


async def test_caller_bug_is_not_wrapped_and_sends_nothing(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    with pytest.raises(InvalidRequestError, match="not JSON serializable") as info:
        await pool.client("svc").post("/thing", json={"x": object()})
    assert isinstance(info.value.__cause__, TypeError)
    assert httpx_mock.get_requests() == []
