from __future__ import annotations

import gzip
import json
import random

import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from kugel_common import (
    BreakerChange,
    ClientSettings,
    HttpClientError,
    InvalidEndpointError,
    NoCurrentAppError,
    RequestDetails,
    ResponseDetails,
    ResponseTooLargeError,
    RetryDetails,
    ServiceClientPool,
    ServiceNotConfiguredError,
    ServiceRegistry,
    ServiceUnavailableError,
    get_service_client,
    path,
    use_pool,
)
from kugel_common.testing import FakeClock


async def test_json_and_empty_bodies(pool: ServiceClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="http://svc.test/api/a", json={"x": 1})
    httpx_mock.add_response(url="http://svc.test/api/b", status_code=204)
    httpx_mock.add_response(url="http://svc.test/api/c", content=b"")
    client = pool.client("svc")
    assert await client.get("/a") == {"x": 1}
    assert await client.get("/b") is None
    assert await client.delete("c") is None  # relative without a slash joins the base path


async def test_non_json_body_is_a_typed_error(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url="http://svc.test/api/a", text="<html>")
    with pytest.raises(HttpClientError, match="not JSON"):
        await pool.client("svc").get("/a")


async def test_none_params_are_dropped(pool: ServiceClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={})
    await pool.client("svc").get("/q", params={"a": None, "b": 0, "c": "x"})
    assert str(httpx_mock.get_request().url) == "http://svc.test/api/q?b=0&c=x"


async def test_content_type_only_for_json(pool: ServiceClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    client = pool.client("svc")
    await client.get("/a")
    await client.post("/b", json={"k": "v"})
    await client.post("/c", data={"k": "v"})
    get, post_json, post_form = httpx_mock.get_requests()
    assert "content-type" not in get.headers
    assert post_json.headers["content-type"] == "application/json"
    assert post_form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert get.headers["user-agent"].startswith("kugel/")


@pytest.mark.parametrize(
    "endpoint", ["http://evil.test/x", "//evil.test/x", "https://svc.test/api/x", "HTTP://evil/x"]
)
async def test_absolute_endpoints_are_refused(
    pool: ServiceClientPool, httpx_mock: HTTPXMock, endpoint: str
) -> None:
    with pytest.raises(InvalidEndpointError) as info:
        await pool.client("svc").get(endpoint)
    assert isinstance(info.value, ValueError)
    assert httpx_mock.get_requests() == []
    assert pool.metrics_snapshot()["svc"]["endpoints"] == {}  # no metric key from bad input


async def test_own_base_is_allowed_and_only_it(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url="http://svc.test/api/other", json=[])
    assert await pool.client("svc").get("http://svc.test/api/other") == []
    for outside in ("http://svc.test/other", "HTTP://svc.test/admin", "http://svc.test/apix"):
        with pytest.raises(InvalidEndpointError):  # the host's other APIs stay out of reach
            await pool.client("svc").get(outside)


def test_path_segments_are_encoded() -> None:
    assert path("items", "a/../b") == "/items/a%2F..%2Fb"
    assert path("items", "..") == "/items/%2E%2E"
    assert path("items", "a b?c#d") == "/items/a%20b%3Fc%23d"


async def test_path_params_stay_one_segment(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={})
    await pool.client("svc").get("/items/{code}", path_params={"code": "a/b c"})
    request = httpx_mock.get_request()
    assert request.url.raw_path == b"/api/items/a%2Fb%20c"
    assert "/items/{code}" in pool.metrics_snapshot()["svc"]["endpoints"]
    with pytest.raises(InvalidEndpointError):  # a proxy that decodes %2F would resolve it
        await pool.client("svc").get("/items/{code}", path_params={"code": "../../admin"})


@pytest.mark.parametrize("declared", [True, False])
async def test_response_size_limit(
    clock: FakeClock, httpx_mock: HTTPXMock, declared: bool
) -> None:
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test")
    pool = ServiceClientPool(registry=registry, clock=clock,
                             settings=ClientSettings(max_response_bytes=1000))
    if declared:
        httpx_mock.add_response(content=b"x" * 5000)
    else:  # no Content-Length: the limit is enforced while reading
        httpx_mock.add_response(stream=IteratorStream([b"x" * 100] * 100))
    with pytest.raises(ResponseTooLargeError):
        await pool.client("svc").get("/big")
    await pool.aclose()


async def test_a_compressed_body_is_decoded_and_bounded_as_decoded(clock: FakeClock) -> None:
    body = json.dumps({"items": ["x"] * 100}).encode()
    bomb = gzip.compress(b"0" * 50_000)  # far smaller than the limit until it unpacks
    assert len(bomb) < 1000

    def server(request: httpx.Request) -> httpx.Response:
        sent = gzip.compress(body) if request.url.path == "/gz" else bomb
        return httpx.Response(200, content=sent, headers={"Content-Encoding": "gzip"})

    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test")
    pool = ServiceClientPool(registry=registry, clock=clock,
                             settings=ClientSettings(max_response_bytes=1000),
                             transport=lambda _n, _s: httpx.MockTransport(server))
    response = await pool.client("svc").request("GET", "/gz")
    assert response.content == body and response.json() == {"items": ["x"] * 100}
    assert response.headers["content-encoding"] == "gzip"  # the server's headers, unchanged
    assert response.is_closed
    with pytest.raises(ResponseTooLargeError):
        await pool.client("svc").get("/bomb")
    await pool.aclose()


async def test_stream_yields_unread_body(pool: ServiceClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(content=b"data: 1\n\ndata: 2\n\n")
    async with pool.client("svc").stream("GET", "/events") as response:
        lines = [line async for line in response.aiter_lines() if line]
    assert lines == ["data: 1", "data: 2"]


class Recorder:
    """A hook of every kind that keeps what it is given."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_request(self, details: RequestDetails) -> None:
        self.seen.append(details)

    def on_response(self, details: ResponseDetails) -> None:
        self.seen.append(details)

    def on_retry(self, details: RetryDetails) -> None:
        self.seen.append(details)

    def on_breaker_change(self, details: BreakerChange) -> None:
        self.seen.append(details)


class Broken(Recorder):
    """Raises after recording: its bugs must not break the call, nor the hooks after it."""

    def on_request(self, details: RequestDetails) -> None:
        super().on_request(details)
        raise RuntimeError("hook bug")

    def on_response(self, details: ResponseDetails) -> None:
        super().on_response(details)
        raise RuntimeError("hook bug")

    def on_retry(self, details: RetryDetails) -> None:
        super().on_retry(details)
        raise RuntimeError("hook bug")


class OnlyRetries:
    def __init__(self) -> None:
        self.retries: list[RetryDetails] = []

    def on_retry(self, details: RetryDetails) -> None:
        self.retries.append(details)


async def test_hooks_see_calls_and_cannot_break_them(
    registry: ServiceRegistry, clock: FakeClock, httpx_mock: HTTPXMock
) -> None:
    broken, recorder, retries = Broken(), Recorder(), OnlyRetries()
    pool = ServiceClientPool(registry=registry, clock=clock, rng=random.Random(1),
                             hooks=[broken, recorder, retries])
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(json={"ok": 1})
    client = pool.client("svc")
    assert await client.get("/h/{id}", path_params={"id": "7"}, params={"q": "secret"}) == {"ok": 1}
    assert broken.seen == recorder.seen
    kinds = [type(details).__name__ for details in recorder.seen]
    assert kinds == ["RequestDetails", "ResponseDetails", "RetryDetails", "RequestDetails",
                     "ResponseDetails"]
    first, answered, retry = recorder.seen[:3]
    assert first == RequestDetails("svc", "GET", "http://svc.test/api/h/7", "/h/{id}", 1)
    assert isinstance(answered, ResponseDetails) and answered.status_code == 503
    assert isinstance(retry, RetryDetails)
    assert (retry.service, retry.method, retry.endpoint, retry.url, retry.attempt) == (
        "svc", "GET", "/h/{id}", "http://svc.test/api/h/7", 1)
    assert isinstance(retry.cause, httpx.Response) and retry.cause.status_code == 503
    assert retry.wait == clock.sleeps[0]
    assert retries.retries == [retry]  # a hook of one kind gets only that kind
    await pool.aclose()


def test_an_object_with_no_hook_method_is_refused() -> None:
    with pytest.raises(TypeError, match="not a hook"):
        ServiceClientPool(hooks=[object()])  # type: ignore[list-item]


async def test_current_pool_is_shared_and_metrics_reset(
    registry: ServiceRegistry, clock: FakeClock, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    async with ServiceClientPool(registry=registry, clock=clock) as pool:
        with use_pool(pool):
            for _ in range(3):
                async with get_service_client("svc") as client:
                    await client.get("/m")
        assert await pool.channel("svc") is await pool.channel("svc")
        assert pool.metrics_snapshot()["svc"]["endpoints"]["/m"]["requests"] == 3
        pool.reset_metrics()
        assert pool.metrics_snapshot()["svc"]["endpoints"] == {}
    with pytest.raises(NoCurrentAppError, match="create_app"):  # outside the block: no pool
        get_service_client("svc")


async def test_unknown_service_fails_on_entering(pool: ServiceClientPool) -> None:
    client = pool.client("nobody")  # a handle is cheap; the name is resolved on entering
    with pytest.raises(ServiceNotConfiguredError, match="BASE_URL_NOBODY"):
        async with client:
            pass


async def test_closed_pool_refuses_reuse(pool: ServiceClientPool) -> None:
    await pool.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await pool.client("svc").get("/x")


def test_per_service_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUGEL_ATTEMPTS", "4")
    monkeypatch.setenv("KUGEL_MASTER_DATA__ATTEMPTS", "7")
    monkeypatch.setenv("KUGEL_MASTER_DATA__HEADERS", json.dumps({"X-Team": "pos"}))
    settings = ClientSettings()
    assert settings.attempts == 4
    assert settings.for_service("master-data").attempts == 7
    assert settings.for_service("master-data").headers == {"X-Team": "pos"}
    assert settings.for_service("cart").attempts == 4


async def test_settings_headers_are_defaults(
    registry: ServiceRegistry, httpx_mock: HTTPXMock
) -> None:
    pool = ServiceClientPool(registry=registry, settings=ClientSettings(headers={"X-Team": "a"}))
    httpx_mock.add_response(json={})
    await pool.client("svc", headers={"X-Caller": "c"}).get("/x", headers={"X-Req": "r"})
    request = httpx_mock.get_request()
    assert (request.headers["x-team"], request.headers["x-caller"], request.headers["x-req"]) == (
        "a", "c", "r")
    await pool.aclose()


async def test_error_url_hides_query(pool: ServiceClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=400)
    with pytest.raises(HttpClientError) as info:
        await pool.client("svc").get("/x", params={"api_key": "s3cret"})
    assert info.value.url == "http://svc.test/api/x"
    assert "s3cret" not in str(info.value)
    assert isinstance(info.value.response, httpx.Response)


async def test_idempotent_post_is_resent_after_a_read_timeout(
    pool: ServiceClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    httpx_mock.add_response(json={"ok": True})
    client = pool.client("svc")
    assert await client.post("/events", content=b"e-1", idempotent=True) == {"ok": True}
    sent = httpx_mock.get_requests()
    assert [r.content for r in sent] == [b"e-1", b"e-1"]
    assert "content-type" not in sent[0].headers  # raw content: no Content-Type invented

    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    with pytest.raises(ServiceUnavailableError):
        await client.post("/sales", json={})  # not vouched for: sent once, never resent
    assert len(httpx_mock.get_requests()) == 3
