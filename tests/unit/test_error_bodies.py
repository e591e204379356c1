"""What callers are told when something fails: a code, a message that names the dependency by
its service name and never its URL or its answer, and a request id that meets the log line."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from kugel_common import ServiceClientPool, ServiceRegistry, set_testing
from kugel_common._app_settings import ErrorDetails
from kugel_common.dapr._replies import to_dapr_error
from kugel_common.errors import HttpClientError, OutboxError
from kugel_common.fastapi import ERROR_RESPONSES
from kugel_common.fastapi._errors import install_error_handlers
from kugel_common.repositories import WebRepository
from kugel_common.testing import FakeClock

Outcome = Callable[[httpx.Request], httpx.Response]
SECRET_BODY = "UPSTREAM-SAID-THIS"


def answering(status: int, text: str = SECRET_BODY) -> Outcome:
    return lambda request: httpx.Response(status, json={"message": text})


def raising(kind: type[httpx.TransportError]) -> Outcome:
    def fail(request: httpx.Request) -> httpx.Response:
        raise kind(f"{kind.__name__} talking to {request.url.host}:{request.url.port}",
                   request=request)
    return fail


def app_calling(base: str, outcome: Outcome, *, through_repository: bool = True,
                details: ErrorDetails = "public") -> FastAPI:
    """An app whose one route calls ``catalog`` at ``base`` through kugel's real client."""
    registry = ServiceRegistry(environ={})
    registry.register("catalog", base)
    pool = ServiceClientPool(registry=registry, clock=FakeClock(),
                             transport=lambda _n, _s: httpx.MockTransport(outcome))
    app = FastAPI()
    install_error_handlers(app, details)

    @app.get("/items/{code}")
    async def item(code: str) -> Any:
        if through_repository:
            return await WebRepository(pool, service="catalog").fetch(
                dict[str, Any], "/items/{code}", code=code)
        async with pool.client("catalog") as client:
            return await client.get("/items/{code}", path_params={"code": code})

    return app


async def ask(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    with set_testing(True):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                     base_url="http://test") as client:
            return await client.get("/items/A1", headers=headers)


@pytest.mark.parametrize(("outcome", "status", "code", "message", "details"), [
    (answering(404), 404, "not_found",
     "catalog has no such resource; check the identifiers in the request", {}),
    (answering(409), 409, "conflict", "catalog refused the change: the resource changed "
     "meanwhile, or its state forbids it; read it again before retrying", {}),
    (answering(400), 422, "rejected_by_dependency",
     "catalog refused the request's input (400); correct the request before retrying",
     {"status": 400}),
    (answering(403), 502, "upstream_error",
     "catalog answered 403, which this service cannot use; the request is not at fault", {}),
    (answering(503), 503, "dependency_unavailable", "catalog answered 503; retry after 1 s", {}),
    (raising(httpx.ReadTimeout), 503, "dependency_unavailable",
     "catalog did not answer in time; retry after 1 s", {}),
    (raising(httpx.ConnectError), 503, "dependency_unavailable",
     "catalog could not be reached; retry after 1 s", {}),
    (raising(httpx.RemoteProtocolError), 503, "dependency_unavailable",
     "catalog dropped the connection; retry after 1 s", {}),
], ids=["404", "409", "400", "403", "503", "timeout", "connect", "dropped"])
@pytest.mark.parametrize("through_repository", [True, False], ids=["repository", "client"])
async def test_each_failure_has_its_status_code_and_message(
    outcome: Outcome, status: int, code: str, message: str, details: dict[str, Any],
    through_repository: bool,
) -> None:
    reply = await ask(app_calling("http://10.1.2.3:8111/v1", outcome,
                                  through_repository=through_repository))
    body = reply.json()["error"]
    assert (reply.status_code, body["code"], body["message"]) == (status, code, message)
    assert body["details"] == {"service": "catalog", **details}
    assert body["request_id"] == reply.headers["x-request-id"]
    if status == 503:
        assert reply.headers["retry-after"] == "1"


async def test_an_unreadable_answer_names_the_field_not_the_answer() -> None:
    reply = await ask(app_calling("http://10.1.2.3:8111", lambda r: httpx.Response(
        200, json=[SECRET_BODY])))
    body = reply.json()["error"]
    assert (reply.status_code, body["code"], body["details"]) == (
        502, "bad_upstream_response", {"service": "catalog", "field": "<body>"})
    assert SECRET_BODY not in reply.text


async def test_the_sidecar_s_own_words_stay_in_the_log() -> None:
    response = httpx.Response(400, json={"errorCode": "ERR_MALFORMED_REQUEST",
                                         "message": SECRET_BODY},
                              request=httpx.Request("POST", "http://127.0.0.1:3500/v1.0/state/s"))
    error = to_dapr_error(HttpClientError(
        "refused", service="dapr", method="POST", url="http://127.0.0.1:3500/v1.0/state/s",
        status_code=400, response=response))
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/items/{code}")
    async def item(code: str) -> None:
        raise error

    reply = await ask(app)
    assert (reply.status_code, reply.json()["error"]["code"]) == (422, "rejected_by_dependency")
    assert SECRET_BODY not in reply.text and "127.0.0.1" not in reply.text


async def test_internal_details_show_where_and_what_when_the_setting_allows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "kugel_common.fastapi")
    reply = await ask(app_calling("http://10.1.2.3:8111/v1", answering(400),
                                  details="internal"), headers={"X-Request-ID": "till-7.42"})
    internal = reply.json()["error"]["details"]["internal"]
    assert internal.startswith("catalog: GET http://10.1.2.3:8111/v1/items/A1 -> 400")
    assert not internal.startswith("catalog: catalog:")  # the prefix comes once
    line = next(r.getMessage() for r in caplog.records if r.name == "kugel_common.fastapi")
    assert line == ("GET /items/A1 -> 422 rejected_by_dependency [request_id=till-7.42]: "
                    f"{internal}")


hosts = st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,5}){0,2}", fullmatch=True),
                  st.ip_addresses(v=4).map(str))
outcomes = st.one_of(
    st.sampled_from([400, 401, 403, 404, 409, 412, 413, 422, 429, 500, 502, 503, 504])
    .map(answering),
    st.sampled_from([httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
    .map(raising))


@settings(max_examples=60, deadline=None)
@given(host=hosts, port=st.integers(1024, 65535), base=st.sampled_from(["", "/api", "/v1/x"]),
       outcome=outcomes, through_repository=st.booleans())
def test_no_error_body_ever_shows_the_upstream_s_address_or_answer(
    host: str, port: int, base: str, outcome: Outcome, through_repository: bool,
) -> None:
    app = app_calling(f"http://{host}:{port}{base}", outcome,
                      through_repository=through_repository)
    reply = asyncio.run(ask(app))
    assert reply.status_code >= 400
    assert f"{host}:{port}" not in reply.text and f"//{host}" not in reply.text
    assert SECRET_BODY not in reply.text and "Error talking to" not in reply.text


def echo_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/items/{code}")
    async def item(code: str) -> str:
        return code

    return app


async def test_a_sane_request_id_is_echoed_on_every_response() -> None:
    app = echo_app()
    ok = await ask(app, headers={"X-Request-ID": "3f2a-b9:c/d+e="})
    assert (ok.status_code, ok.headers["x-request-id"]) == (200, "3f2a-b9:c/d+e=")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://test") as client:
        missing = await client.get("/nowhere", headers={"X-Request-ID": "r-1"})
        fresh = await client.get("/nowhere")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert missing.headers["x-request-id"] == missing.json()["error"]["request_id"] == "r-1"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    assert fresh.json()["error"]["request_id"] == fresh.headers["x-request-id"]


@settings(max_examples=60, deadline=None)
@given(garbage=st.one_of(
    st.text(min_size=129, max_size=300, alphabet="abc123"),  # too long
    st.text(min_size=1, max_size=40).filter(
        lambda t: re.search(r"[^A-Za-z0-9._~:+/=-]", t) is not None).map(
        lambda t: t.encode("utf-8").decode("latin-1")),  # a character outside the token's
    st.just("")))
def test_a_garbage_request_id_is_replaced_not_echoed(garbage: str) -> None:
    async def sent() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(echo_app()),
                                     base_url="http://test") as client:
            return await client.get("/nowhere",
                                    headers=[(b"X-Request-ID", garbage.encode("latin-1"))])

    reply = asyncio.run(sent())
    chosen = reply.headers["x-request-id"]
    assert chosen != garbage and re.fullmatch(r"[0-9a-f]{32}", chosen)
    assert reply.json()["error"]["request_id"] == chosen


async def test_two_request_ids_are_replaced_by_one() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(echo_app()),
                                 base_url="http://test") as client:
        reply = await client.get("/items/a", headers=[("X-Request-ID", "a"),
                                                      ("X-Request-ID", "b")])
    assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["x-request-id"])



def test_the_openapi_declares_the_request_id() -> None:
    app = FastAPI()

    @app.get("/x", responses=ERROR_RESPONSES)
    async def x() -> None: ...

    schema = app.openapi()
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message", "request_id"} <= set(detail["required"])
    declared = schema["paths"]["/x"]["get"]["responses"]["503"]
    assert "X-Request-ID" in declared["headers"]


async def test_an_event_that_cannot_be_recorded_asks_for_a_retry_and_logs_the_file(
        caplog: pytest.LogCaptureFixture) -> None:
    """The change's retry with the same id records its event: a 503, not a 500 bug."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/receipts")
    async def receive() -> None:
        raise OutboxError("outbox /no/such/dir/outbox.sqlite3 (KUGEL_OUTBOX_PATH): its folder "
                          "/no/such/dir does not exist", path="/no/such/dir/outbox.sqlite3",
                          reason="unable to open database file")

    caplog.set_level(logging.INFO, "kugel_common.fastapi")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://test") as client:
        reply = await client.post("/receipts")
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "1"
    assert reply.json()["error"]["code"] == "event_not_recorded"
    assert "/no/such/dir" not in reply.text
    assert "/no/such/dir" in caplog.text
