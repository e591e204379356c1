"""daprd's --max-body-size on a real uvicorn-served sidecar (127.0.0.1): a body of exactly the
limit is served, one byte more gets the answer daprd gives when that API cannot read its body
(pkg/api/http: each handler's read error; dapr/kit streams.LimitReadCloser)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar

from .server import serve_here

LIMIT = 4096
COMPONENTS = [Component("pubsub", "pubsub.redis"), Component("statestore", "state.redis")]


def padded(shape: Callable[[str], Any], size: int) -> bytes:
    """``shape(padding)`` as JSON of exactly ``size`` bytes: the padding is inside the value,
    so a reader that stops at the limit cannot have read a whole value."""
    bare = len(json.dumps(shape(""), separators=(",", ":")))
    return json.dumps(shape("x" * (size - bare)), separators=(",", ":")).encode()


# path, body shape (None: raw bytes), expected answer to the body one byte over the limit
CASES = [
    ("/v1.0/publish/pubsub/orders", None, (500, "ERR_PUBSUB_PUBLISH_MESSAGE")),
    ("/v1.0/publish/bulk/pubsub/orders",
     lambda p: [{"entryId": "1", "event": p, "contentType": "text/plain"}],
     (400, "ERR_PUBSUB_EVENTS_SER")),
    ("/v1.0/state/statestore", lambda p: [{"key": "k", "value": p}],
     (400, "ERR_MALFORMED_REQUEST")),
    ("/v1.0/state/statestore/bulk", lambda p: {"keys": [p]}, (400, "ERR_MALFORMED_REQUEST")),
    ("/v1.0/state/statestore/transaction",
     lambda p: {"operations": [{"operation": "upsert", "request": {"key": "k", "value": p}}]},
     (400, "ERR_MALFORMED_REQUEST")),
    ("/v1.0/metadata/note", None, (400, "ERR_BODY_READ")),
    ("/v1.0/invoke/app/method/echo", None, (500, "ERR_DIRECT_INVOKE")),
]


@pytest.fixture
async def limited() -> AsyncIterator[tuple[str, list[int]]]:
    """A sidecar of ``app`` whose bodies may have LIMIT bytes; the app records what it got."""
    received: list[int] = []

    async def echo(request: Request) -> JSONResponse:
        received.append(len(await request.body()))
        return JSONResponse({})

    app = Starlette(routes=[Route("/echo", echo, methods=["PUT"])])
    async with serve_here(app) as url, LocalSidecar(
            [AppSpec("app", app_url=url)], COMPONENTS, max_body_size=LIMIT) as sidecar:
        yield sidecar.url("app"), received


@pytest.mark.parametrize(("path", "shape", "answer"), CASES, ids=[c[0] for c in CASES])
async def test_a_body_one_byte_over_the_limit_gets_daprds_answer_for_that_api(
    path: str, shape: Callable[[str], Any] | None, answer: tuple[int, str],
    limited: tuple[str, list[int]]
) -> None:
    url, received = limited
    async with httpx.AsyncClient(base_url=url) as http:
        for size in (LIMIT, LIMIT + 1):
            body = b"x" * size if shape is None else padded(shape, size)
            assert len(body) == size
            reply = await http.put(path, content=body)
            if size == LIMIT:
                assert reply.status_code < 300, reply.text
            else:
                assert (reply.status_code, reply.json()["errorCode"]) == answer
    if path.startswith("/v1.0/invoke/"):
        assert received == [LIMIT]  # the app never saw the larger one


async def test_a_chunked_body_is_cut_at_the_limit_too(limited: tuple[str, list[int]]) -> None:
    url, _ = limited

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1000 + 1):
            yield b"y" * 1000

    async with httpx.AsyncClient(base_url=url) as http:
        reply = await http.post("/v1.0/publish/pubsub/orders", content=chunks())
    assert (reply.status_code, reply.json()["errorCode"]) == (500, "ERR_PUBSUB_PUBLISH_MESSAGE")


async def test_the_default_limit_is_daprds_4mi() -> None:
    async with LocalSidecar([AppSpec("app")], COMPONENTS) as sidecar, \
            httpx.AsyncClient(base_url=sidecar.url("app")) as http:
        under = await http.put("/v1.0/metadata/big", content=b"z" * (4 << 20))
        over = await http.put("/v1.0/metadata/big", content=b"z" * ((4 << 20) + 1))
    assert under.status_code == 204
    assert (over.status_code, over.json()["errorCode"]) == (400, "ERR_BODY_READ")
