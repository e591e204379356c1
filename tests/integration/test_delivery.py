"""Delivery to a real app over sockets, as daprd 1.18 with pubsub.redis delivers.

The app answers each row of the answer table; an inbound resiliency policy retries; dead
letters are the stored bytes unchanged; pubsub.redis acks what fails without a policy;
declarative subscriptions merge with the app's; rawPayload wraps; workers overlap.
Retry waits are a FakeClock's: nothing here waits out a back-off.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kugel_common.dapr.sidecar import (
    AppSpec,
    Component,
    LocalSidecar,
    load_resiliency,
    load_subscriptions,
)
from kugel_common.testing import FakeClock

from ..backends import Backend
from ..waiting import drained, until
from .server import serve_here

COMPONENTS = [Component("pubsub", "pubsub.redis"), Component("statestore", "state.redis")]
RESILIENCY = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: inbound}
spec:
  policies:
    retries:
      thrice: {policy: constant, duration: 2s, maxRetries: 2}
  targets:
    components:
      pubsub: {inbound: {retry: thrice}}
"""
DECLARED = """
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: declared-v1}
spec: {pubsubname: pubsub, topic: declared, route: on-declared}
scopes: [sub]
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: overridden}
spec:
  pubsubname: pubsub
  topic: work
  routes: {default: /never}
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: other-app}
spec: {pubsubname: pubsub, topic: elsewhere, route: /x}
scopes: [someone-else]
"""


class App:
    """A subscriber app that answers as told and records what it got."""

    def __init__(self, subscriptions: list[dict[str, Any]]) -> None:
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.attempts: Counter[str] = Counter()
        self.app = FastAPI()

        @self.app.get("/dapr/subscribe")
        async def subscribe() -> list[dict[str, Any]]:
            return subscriptions

        @self.app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Any:
            body = await request.body()
            self.got.append((path, dict(request.headers), body))
            event = json.loads(body)
            kind = str((event.get("data") or {}).get("kind")) if isinstance(
                event.get("data"), dict) else ""
            self.attempts[kind if path == "work" else f"{path}:{kind}"] += 1
            if path == "work":
                return self.answer(kind)
            if path.startswith("not-served"):
                return JSONResponse({"detail": "Not Found"}, 404)
            return {"status": "SUCCESS"}

    def answer(self, kind: str) -> Any:
        n = self.attempts[kind]
        if kind == "flaky" and n < 3:
            return {"status": "RETRY"}
        if kind == "crash" and n < 2:
            return JSONResponse({}, 500)
        if kind == "poison":
            return {"status": "DROP"}
        if kind == "stubborn":
            return {"status": "RETRY"}
        return {"status": "SUCCESS"}

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(body) for p, _, body in self.got if p == path]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await start(app, **sidecar options)`` -> (sidecar, publish); all stopped after.
    Embedded unless a ``backend`` is given."""
    stack: list[tuple[Any, LocalSidecar, httpx.AsyncClient]] = []

    async def start(app: App, *, resiliency: str = "", declared: str = "",
                    components: list[Component] | None = None,
                    backend: Backend | None = None) -> tuple[LocalSidecar, Any]:
        policies, subs = tmp_path / "policies", tmp_path / "subs"
        policies.mkdir(exist_ok=True)
        subs.mkdir(exist_ok=True)
        (policies / "r.yaml").write_text(resiliency)
        (subs / "s.yaml").write_text(declared)
        served = serve_here(app.app)
        url = await served.__aenter__()
        clock = FakeClock()
        sidecar = (backend or Backend()).sidecar(
            [AppSpec("pub"), AppSpec("sub", app_url=url)], components or COMPONENTS,
            resiliency=load_resiliency([policies]), subscriptions=load_subscriptions([subs]),
            sleep=clock.sleep)
        await sidecar.start()
        http = httpx.AsyncClient(base_url=sidecar.url("pub"))
        stack.append((served, sidecar, http))

        async def publish(topic: str, data: Any, **params: str) -> None:
            query = {f"metadata.{k}": v for k, v in params.items()}
            if isinstance(data, bytes):
                reply = await http.post(f"/v1.0/publish/pubsub/{topic}", content=data,
                                        params=query)
            else:
                reply = await http.post(f"/v1.0/publish/pubsub/{topic}", json=data,
                                        params=query)
            assert reply.status_code == 204, reply.text

        return sidecar, publish

    yield start
    for served, sidecar, http in stack:
        await http.aclose()
        await sidecar.stop()
        await served.__aexit__(None, None, None)


async def test_the_answer_table_with_an_inbound_policy_and_a_dead_letter_topic(
        running: Callable[..., Any], backend: Backend) -> None:
    app = App([{"pubsubname": "pubsub", "topic": "work", "route": "/work",
                "deadLetterTopic": "work-dead"},
               {"pubsubname": "pubsub", "topic": "work-dead", "route": "dead"},
               {"pubsubname": "pubsub", "topic": "gone", "route": "/not-served-404"},
               {"pubsubname": "pubsub", "topic": "nowhere"}])  # no route: dropped alone
    sidecar, publish = await running(app, resiliency=RESILIENCY, declared=DECLARED, backend=backend)
    for kind in ("ok", "flaky", "crash", "poison", "stubborn"):
        await publish("work", {"kind": kind})
    await publish("work", {"kind": "expired"}, ttlInSeconds="-1s")
    await publish("declared", {"kind": "declared"})
    await until(lambda: len(app.bodies("dead")) == 2 and app.attempts["on-declared:declared"]
                and drained(sidecar.broker, "sub", "pubsub", "work"))
    assert app.attempts["flaky"] == 3 and app.attempts["crash"] == 2  # retried by the policy
    assert app.attempts["poison"] == 1  # DROP: to the dead-letter topic, no retry
    assert app.attempts["stubborn"] == 3  # 1 + maxRetries 2, then dead-lettered at once
    # expired: dead-lettered without a delivery, and still expired on the dead-letter topic
    assert "expired" not in app.attempts
    assert await sidecar.broker.pending("a-group-that-never-read", "pubsub", "work-dead") == 3
    dead = app.bodies("dead")
    assert sorted(e["data"]["kind"] for e in dead) == ["poison", "stubborn"]
    assert {e["topic"] for e in dead} == {"work"}  # republished unchanged
    for _, headers, _ in app.got:
        assert headers["content-type"] == "application/cloudevents+json"
        assert headers["pubsubname"] == "pubsub"
    assert app.attempts["on-declared:declared"] == 1
    async with httpx.AsyncClient(base_url=sidecar.url("sub")) as http:
        metadata = (await http.get("/v1.0/metadata")).json()
    listed = metadata["subscriptions"]
    assert {"pubsubname": "pubsub", "topic": "work", "rules": [{"path": "/work"}],
            "deadLetterTopic": "work-dead", "type": "PROGRAMMATIC"} in listed
    app_port = metadata["appConnectionProperties"]["port"]
    assert sidecar.apps["sub"].app_url == f"http://127.0.0.1:{app_port}"
    by_topic = {s["topic"]: s for s in listed}
    assert by_topic["work"]["type"] == "PROGRAMMATIC"  # the app's replaces the file's
    assert by_topic["declared"]["type"] == "DECLARATIVE"
    assert by_topic["declared"]["rules"] == [{"path": "/on-declared"}]
    assert "nowhere" not in by_topic and "elsewhere" not in by_topic
    await publish("gone", {"kind": "nobody"})
    await until(lambda: app.attempts["not-served-404:nobody"] == 1)
    await until(lambda: drained(sidecar.broker, "sub", "pubsub", "gone"))  # 404: dropped


async def test_without_a_policy_or_dead_letter_pubsub_redis_loses_a_failed_event(
        running: Callable[..., Any], backend: Backend) -> None:
    app = App([{"pubsubname": "pubsub", "topic": "work", "route": "/work"}])
    sidecar, publish = await running(app, backend=backend)
    await publish("work", {"kind": "stubborn"})
    await publish("work", {"kind": "ok"})
    await until(lambda: app.attempts["ok"] == 1 and app.attempts["stubborn"] == 1
                and drained(sidecar.broker, "sub", "pubsub", "work"))
    await asyncio.sleep(0.1)
    assert app.attempts["stubborn"] == 1  # acked after one failed attempt: never again


async def test_another_broker_type_keeps_a_failed_event_for_redelivery(
        running: Callable[..., Any]) -> None:
    app = App([{"pubsubname": "pubsub", "topic": "work", "route": "/work"}])
    components = [Component("pubsub", "pubsub.in-memory", metadata={"processingTimeout": "100",
                                                                 "redeliverInterval": "100"})]
    sidecar, publish = await running(app, components=components)
    await publish("work", {"kind": "flaky"})
    await until(lambda: app.attempts["flaky"] == 3)  # redelivered until it succeeds
    await until(lambda: drained(sidecar.broker, "sub", "pubsub", "work"))


async def test_raw_payloads_both_ways(running: Callable[..., Any], backend: Backend) -> None:
    app = App([{"pubsubname": "pubsub", "topic": "raw", "route": "/raw",
                "metadata": {"rawPayload": "True"}},  # Go's ParseBool spellings
               {"pubsubname": "pubsub", "topic": "plain", "route": "/plain",
                "deadLetterTopic": "plain-dead"},
               {"pubsubname": "pubsub", "topic": "plain-dead", "route": "/dead",
                "metadata": {"rawPayload": "1"}},
               {"pubsubname": "pubsub", "topic": "bad", "route": "/bad",
                "deadLetterTopic": "plain-dead", "metadata": {"rawPayload": "yes"}}])
    _sidecar, publish = await running(app, backend=backend)
    await publish("raw", {"kind": "wrapped"})  # an envelope, delivered raw
    await publish("plain", b'{"id": "e1", "kind": "mine"}', rawPayload="true")
    await publish("plain", b"not json", rawPayload="true")
    await publish("bad", {"kind": "bad-metadata"})
    await until(lambda: len(app.bodies("raw")) == 1 and len(app.bodies("plain")) == 1
                and len(app.bodies("dead")) == 2)
    [wrapped] = app.bodies("raw")
    assert wrapped["datacontenttype"] == "application/octet-stream"
    assert (wrapped["topic"], wrapped["pubsubname"], wrapped["source"]) == ("raw", "pubsub",
                                                                           "Dapr")
    inner = json.loads(base64.b64decode(wrapped["data_base64"]))
    assert inner["data"] == {"kind": "wrapped"} and inner["topic"] == "raw"
    [(_, headers, body)] = [g for g in app.got if g[0] == "plain"]
    assert body == b'{"id": "e1", "kind": "mine"}'  # a raw JSON object: posted unchanged
    assert headers["content-type"] == "application/cloudevents+json"
    dead = sorted(base64.b64decode(e["data_base64"]) for e in app.bodies("dead"))
    assert dead[0] == b"not json"  # not a CloudEvent: dead-lettered
    assert json.loads(dead[1])["data"] == {"kind": "bad-metadata"}  # rawPayload "yes": refused
    assert "bad" not in [g[0] for g in app.got]


async def test_deliveries_overlap_up_to_concurrency(
        running: Callable[..., Any], backend: Backend) -> None:
    in_flight, most, order = 0, 0, []
    release = asyncio.Event()
    app = FastAPI()

    @app.get("/dapr/subscribe")
    async def subscribe() -> list[dict[str, str]]:
        return [{"pubsubname": "pubsub", "topic": "many", "route": "/many"}]

    @app.post("/many")
    async def many(request: Request) -> dict[str, str]:
        nonlocal in_flight, most
        n = (await request.json())["data"]["n"]
        in_flight += 1
        most = max(most, in_flight)
        if n == 0:
            await release.wait()
        await asyncio.sleep(0.01)
        in_flight -= 1
        order.append(n)
        return {"status": "SUCCESS"}

    wrapper = App([])
    wrapper.app = app
    components = [Component("pubsub", "pubsub.redis", metadata={"concurrency": "4"})]
    _sidecar, publish = await running(wrapper, components=components, backend=backend)
    for n in range(12):
        await publish("many", {"n": n})
    await until(lambda: len(order) == 11)
    release.set()
    await until(lambda: len(order) == 12)
    assert most == 4  # at most `concurrency` in flight, and they did overlap
    assert order[-1] == 0 and order != sorted(order)  # the first event finished last


async def test_invocation_follows_the_callers_app_policy(running: Callable[..., Any]) -> None:
    """targets.apps.<callee>: an answer outside 200-399 is retried; when the retries are
    spent, the caller gets the app's last answer as it was."""
    calls: Counter[str] = Counter()
    app = FastAPI()

    @app.get("/dapr/subscribe")
    async def subscribe() -> list[Any]:
        return []

    @app.get("/flaky/{n}")
    async def flaky(n: int) -> JSONResponse:
        calls[str(n)] += 1
        if calls[str(n)] <= n:
            return JSONResponse({"try": calls[str(n)]}, 503)
        return JSONResponse({"try": calls[str(n)]}, 200)

    wrapper = App([])
    wrapper.app = app
    for_apps = RESILIENCY.replace("components:\n      pubsub: {inbound: {retry: thrice}}",
                                  "apps:\n      sub: {retry: thrice}")
    sidecar, _ = await running(wrapper, resiliency=for_apps)
    async with httpx.AsyncClient(base_url=sidecar.url("pub")) as http:
        ok = await http.get("/v1.0/invoke/sub/method/flaky/2")
        spent = await http.get("/v1.0/invoke/sub/method/flaky/5")
    assert (ok.status_code, ok.json()) == (200, {"try": 3})
    assert (spent.status_code, spent.json()) == (503, {"try": 3})  # 1 + maxRetries 2


async def test_bulk_subscribe_batches_and_answers_per_entry(
        running: Callable[..., Any], backend: Backend) -> None:
    batches: list[tuple[dict[str, str], dict[str, Any]]] = []
    seen: Counter[str] = Counter()
    dead: list[dict[str, Any]] = []
    app = FastAPI()

    @app.get("/dapr/subscribe")
    async def subscribe() -> list[dict[str, Any]]:
        return [{"pubsubname": "pubsub", "topic": "bulk", "route": "bulk",
                 "deadLetterTopic": "bulk-dead",
                 "bulkSubscribe": {"enabled": True, "maxMessagesCount": 4,
                                   "maxAwaitDurationMs": 20}},
                {"pubsubname": "pubsub", "topic": "bulk-dead", "route": "/dead"}]

    @app.post("/bulk")
    async def bulk(request: Request) -> dict[str, Any]:
        batch = await request.json()
        batches.append((dict(request.headers), batch))
        statuses = []
        for entry in batch["entries"]:
            kind = entry["event"]["data"]["kind"]
            seen[kind] += 1
            status = {"ok": "SUCCESS", "poison": "DROP", "never": "RETRY"}.get(kind)
            if kind == "flaky":
                status = "RETRY" if seen[kind] == 1 else "SUCCESS"
            if status is not None:  # "silent" gets no status: a RETRY for bulk
                statuses.append({"entryID": entry["entryId"], "status": status})  # any case
        return {"statuses": statuses}

    @app.post("/dead")
    async def on_dead(request: Request) -> dict[str, str]:
        dead.append(await request.json())
        return {"status": "SUCCESS"}

    wrapper = App([])
    wrapper.app = app
    sidecar, publish = await running(wrapper, resiliency=RESILIENCY, backend=backend)
    kinds = ["ok"] * 6 + ["flaky", "poison", "never", "silent"]
    for kind in kinds:
        await publish("bulk", {"kind": kind})
    await until(lambda: len(dead) == 3 and drained(sidecar.broker, "sub", "pubsub", "bulk"))
    assert sorted(e["data"]["kind"] for e in dead) == ["never", "poison", "silent"]
    assert {e["topic"] for e in dead} == {"bulk"}  # unchanged
    assert seen["ok"] == 6 and seen["flaky"] == 2 and seen["poison"] == 1
    assert seen["never"] == seen["silent"] == 3  # 1 + maxRetries 2: only failing ones resent
    headers, first = batches[0]
    assert headers["content-type"] == "application/json" and headers["pubsubname"] == "pubsub"
    assert (first["type"], first["topic"], first["pubsubname"]) == (
        "com.dapr.event.sent.bulk", "bulk", "pubsub")
    assert first["metadata"] == {"pubsubName": "pubsub"}
    entry = first["entries"][0]
    assert set(entry) == {"entryId", "event", "metadata", "contentType"}
    assert entry["contentType"] == "application/cloudevents+json"
    assert entry["event"]["topic"] == "bulk" and entry["metadata"] == {}
    assert max(len(b["entries"]) for _, b in batches) <= 4
    assert len({e["entryId"] for _, b in batches for e in b["entries"]}) == len(kinds)
