"""Every error that leaves kugel is a kugel error: bad input from the caller or the server never
escapes as a ValueError, httpx.InvalidURL or RuntimeError from the layers below."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock

from kugel_common import (
    HttpClientError,
    InvalidRequestError,
    ServiceClientPool,
    ServiceNotConfiguredError,
    ServiceRegistry,
    WrongEventLoopError,
)
from kugel_common._retry_after import retry_after_seconds


def make_pool() -> ServiceClientPool:
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test/api")
    return ServiceClientPool(registry=registry)


async def test_an_endpoint_too_long_for_a_url_is_refused_before_sending(
    httpx_mock: HTTPXMock,
) -> None:
    pool = make_pool()
    with pytest.raises(InvalidRequestError, match="URL cannot be built") as info:
        await pool.client("svc").get("/" + "a" * 70_000)
    assert isinstance(info.value.__cause__, httpx.InvalidURL)
    assert httpx_mock.get_requests() == []
    assert pool.metrics_snapshot()["svc"]["endpoints"] == {}  # no giant metric key either
    await pool.aclose()


@pytest.mark.parametrize(("url", "reason"), [
    ("http://h:99999", "port"), ("http://h:0", "port"), ("http://h:abc/api", "not a URL"),
    ("http://user:pw@h/api", "credentials"),
])
async def test_a_base_url_that_cannot_work_is_a_configuration_error(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ServiceRegistry(environ={}).register("svc", url)
    registry = ServiceRegistry(environ={"BASE_URL_SVC": url})
    with pytest.raises(ServiceNotConfiguredError, match="BASE_URL_SVC"):
        await registry.resolve("svc")


@given(st.binary(max_size=64))
def test_any_retry_after_is_a_delay_or_nothing(value: bytes) -> None:
    response = httpx.Response(503, headers=[(b"retry-after", value)])
    delay = retry_after_seconds(response)
    assert delay is None or delay >= 0


def test_a_superscript_digit_is_not_a_retry_after() -> None:
    response = httpx.Response(503, headers=[(b"retry-after", "²".encode("latin-1"))])
    assert retry_after_seconds(response) is None


async def test_a_pool_used_from_another_event_loop_says_so(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="http://svc.test/api/x", json={"ok": True})
    pool = make_pool()
    assert await pool.client("svc").get("/x") == {"ok": True}
    raised: list[BaseException] = []

    def other_loop() -> None:
        try:
            asyncio.run(pool.client("svc").get("/x"))
        except BaseException as exc:  # handed to the assertion below
            raised.append(exc)

    thread = threading.Thread(target=other_loop)
    thread.start()
    thread.join(timeout=10)
    assert len(raised) == 1 and isinstance(raised[0], WrongEventLoopError)
    assert isinstance(raised[0], RuntimeError)  # what code that caught the bare one still gets
    await pool.aclose()


async def test_a_refused_header_names_the_call_without_its_secrets(httpx_mock: HTTPXMock) -> None:
    pool = make_pool()
    with pytest.raises(InvalidRequestError, match="X-Note") as info:
        await pool.client("svc").get("/x", params={"token": "s3cret"},
                                     headers={"X-Note": "a\nb"})
    assert (info.value.service, info.value.method) == ("svc", "GET")
    assert info.value.url == "http://svc.test/api/x"  # no query string, so no token
    assert "s3cret" not in str(info.value)
    assert httpx_mock.get_requests() == []
    await pool.aclose()


@pytest.mark.parametrize(("call", "reason"), [
    ({"headers": {"X-A": "\u20ac"}}, "latin-1"),
    ({"headers": {"X-\u00e9\u20ac": "v"}}, "latin-1"),
    ({"headers": {"X-A": 5}}, "latin-1"),
    ({"params": {"q": "a" * 70_000}}, "cannot be built"),
    ({"method": "GE T"}, "not an HTTP method"),
    ({"method": "GET\r\n"}, "not an HTTP method"),
    ({"timeout": 0}, "positive"),
    ({"timeout": float("nan")}, "positive"),
])
async def test_what_the_caller_gets_wrong_is_an_invalid_request(
    httpx_mock: HTTPXMock, call: dict[str, object], reason: str
) -> None:
    pool = make_pool()
    method = str(call.pop("method", "GET"))
    with pytest.raises(InvalidRequestError, match=reason) as info:
        await pool.client("svc").request(method, "/x", **call)  # type: ignore[arg-type]
    assert info.value.service == "svc"
    assert httpx_mock.get_requests() == []
    await pool.aclose()


async def test_a_body_that_is_not_json_names_the_url_without_its_query(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url="http://svc.test/api/x?token=s3cret", text="<html>")
    pool = make_pool()
    with pytest.raises(HttpClientError, match="not JSON") as info:
        await pool.client("svc").get("/x?token=s3cret")
    assert info.value.url == "http://svc.test/api/x"
    assert "s3cret" not in str(info.value)
    await pool.aclose()
