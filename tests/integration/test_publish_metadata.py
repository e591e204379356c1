"""Publish metadata from the publisher's HTTP call to the subscriber's headers, over sockets, on
the embedded streams and on Redis: daprd 1.18 passes every ``metadata.X`` of a publish to
pubsub.redis, which stores it with the event; on delivery it becomes the app's headers
(pkg/runtime/subscription, postman/http, messaging/v1 ``InternalMetadataToHTTPHeader``), and
a dead letter is republished with it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar

from ..backends import Backend
from ..waiting import drained, until
from .server import serve_here

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SUBSCRIPTIONS = [
    {"pubsubname": "pubsub", "topic": "orders", "route": "/orders", "deadLetterTopic": "dead"},
    {"pubsubname": "pubsub", "topic": "dead", "route": "/dead"},
]


class App:
    """Drops every order (to the dead-letter topic) and records each request's headers."""

    def __init__(self) -> None:
        self.got: dict[str, list[tuple[list[tuple[str, str]], bytes]]] = {}
        self.app = FastAPI()

        @self.app.get("/dapr/subscribe")
        async def subscribe() -> list[dict[str, Any]]:
            return SUBSCRIPTIONS

        @self.app.post("/{path}")
        async def receive(path: str, request: Request) -> dict[str, str]:
            headers = [(k.decode(), v.decode()) for k, v in request.headers.raw]
            self.got.setdefault(path, []).append((headers, await request.body()))
            return {"status": "DROP" if path == "orders" else "SUCCESS"}


@pytest.fixture
async def running(backend: Backend) -> AsyncIterator[tuple[App, LocalSidecar]]:
    app = App()
    async with serve_here(app.app) as url, backend.sidecar(
            [AppSpec("pub"), AppSpec("sub", app_url=url)],
            [Component("pubsub", "pubsub.redis")]) as sidecar:
        yield app, sidecar


async def test_publish_metadata_reaches_the_subscriber_and_the_dead_letter(
        running: tuple[App, LocalSidecar]) -> None:
    app, sidecar = running
    metadata = {"tenant": "acme", "note": "caf\u00e9", "Connection": "x-drop", "x-drop": "1",
                "host": "evil", "content-length": "1", "grpc-status": "3",
                "traceparent": TRACEPARENT, "pubsubName": "spoofed"}
    async with httpx.AsyncClient(base_url=sidecar.url("pub")) as http:
        reply = await http.post("/v1.0/publish/pubsub/orders", json={"n": 1},
                                params={f"metadata.{k}": v for k, v in metadata.items()})
    assert reply.status_code == 204
    await until(lambda: "dead" in app.got and drained(sidecar.broker, "sub", "pubsub", "dead"))
    [(headers, body)] = app.got["orders"]
    got = dict(headers)
    assert len(headers) == len(got)  # each header once
    assert (got["tenant"], got["note"], got["dapr-grpc-status"]) == ("acme", "caf\u00e9", "3")
    assert (got["pubsubname"], got["traceparent"]) == ("pubsub", TRACEPARENT)
    assert got["content-type"] == "application/cloudevents+json"
    assert got["content-length"] == str(len(body)) and got["host"] != "evil"
    assert "x-drop" not in got  # named by the Connection entry: hop-by-hop
    assert json.loads(body)["data"] == {"n": 1}
    [(dead_headers, dead_body)] = app.got["dead"]
    assert dead_body == body  # the stored bytes, unchanged
    assert dict(dead_headers)["tenant"] == "acme"
    streams = sidecar.broker.streams_of("pubsub")
    [entry] = await streams.read_new("probe", "pubsub", "orders", 10, 0)
    assert json.loads(entry.metadata or b"") == metadata
    [dead] = await streams.read_new("probe", "pubsub", "dead", 10, 0)
    assert json.loads(dead.metadata or b"") == {**metadata, "pubsubName": "pubsub"}
