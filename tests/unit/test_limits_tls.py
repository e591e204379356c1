from __future__ import annotations

import ssl
import time

import certifi
import pytest
from pytest_httpx import HTTPXMock

from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry
from kugel_common._transport import ssl_context


def test_one_ssl_context_per_tls_setting() -> None:
    first = ssl_context(True, None, None, None)
    assert isinstance(first, ssl.SSLContext)
    assert ssl_context(True, None, None, None) is first
    assert ssl_context(False, None, None, None) is False
    custom = ssl_context(True, certifi.where(), None, None)
    assert isinstance(custom, ssl.SSLContext) and custom is not first


def test_missing_ca_bundle_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError):
        ssl_context(True, "/nonexistent/ca.pem", None, None)


async def test_services_share_the_context(registry: ServiceRegistry) -> None:
    registry.register("other", "https://other.test")
    pool = ServiceClientPool(registry=registry)
    contexts = {
        id((await pool.channel(name)).client._transport.shared._pool._ssl_context)  # type: ignore[attr-defined]
        for name in ("svc", "other")
    }
    assert len(contexts) == 1
    await pool.aclose()


async def test_rate_limit_spaces_requests(
    registry: ServiceRegistry, httpx_mock: HTTPXMock
) -> None:
    pool = ServiceClientPool(
        registry=registry, settings=ClientSettings(rate_limit=5, rate_period=0.1)
    )
    httpx_mock.add_response(json={}, is_reusable=True)
    started = time.monotonic()
    for _ in range(15):
        await pool.client("svc").get("/r")
    elapsed = time.monotonic() - started
    await pool.aclose()
    assert elapsed >= 0.15  # 15 requests at 5 per 0.1 s cannot all go in the first period
    assert elapsed < 2.0
