"""The official Python SDK and dapr-ext-fastapi against the local sidecar, for what they do
over HTTP: clients that nobody here wrote.

dapr 1.19 speaks HTTP for service invocation (``DaprClient.invoke_method``, sync and
``dapr.aio``; DAPR_API_METHOD_INVOCATION_PROTOCOL defaults to HTTP), for the health wait of
every client's constructor, and for actors. State, publish, bulk publish, metadata, secrets,
configuration, locks, jobs, workflows and the streaming subscriptions are gRPC only, and the local
sidecar serves no gRPC: those calls are out of its reach, so this file publishes over HTTP.
``DaprApp`` (dapr-ext-fastapi) is the subscriber: its ``/dapr/subscribe`` and its handlers.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import httpx
import pytest
from dapr.aio.clients import DaprClient as AsyncDaprClient
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprHttpError
from dapr.ext.fastapi import DaprApp
from fastapi import Body, FastAPI

from kugel_common.dapr.sidecar import AppSpec, LocalSidecar

from .clients import COMPONENTS, RESILIENCY, TOKEN, echo_app, sidecar_in_thread


class Inbox:
    """What the DaprApp's handlers received, by topic, and what they answer next."""

    def __init__(self) -> None:
        self.events: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.answers: defaultdict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()

    def take(self, topic: str, event: dict[str, Any]) -> dict[str, str]:
        with self._lock:
            self.events[topic].append(event)
            planned = self.answers[topic]
            return {"status": planned.pop(0) if planned else "SUCCESS"}

    def wait(self, topic: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The events of ``topic`` once there are ``count`` of them (bounded poll)."""
        deadline = time.monotonic() + timeout
        while len(self.events[topic]) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.events[topic])


TOPICS = {  # topic: its dead-letter topic, if any; one set of topics per test
    "orders": None, "retried": None, "octets": None,
    "dropped": "dropped-dead", "dropped-dead": None,
    "dropped-again": "dropped-again-dead", "dropped-again-dead": None,
    "retried-dead-lettered": "retried-dead", "retried-dead": None, "retried-lost": None}
PLAIN = {"retried-dead-lettered", "retried-dead", "retried-lost"}  # on "plain-pubsub"


def subscriber(inbox: Inbox) -> FastAPI:
    app = FastAPI()
    dapr_app = DaprApp(app)

    def handler(topic: str) -> Callable[[dict[str, Any]], dict[str, str]]:
        def on_event(event: Annotated[dict[str, Any], Body()]) -> dict[str, str]:
            return inbox.take(topic, event)
        return on_event

    for topic, dead in TOPICS.items():
        dapr_app.subscribe(pubsub="plain-pubsub" if topic in PLAIN else "pubsub", topic=topic,
                           dead_letter_topic=dead)(handler(topic))
    dapr_app.subscribe(pubsub="pubsub", topic="raw", metadata={"rawPayload": "true"},
                       route="/raw")(handler("raw"))
    return app


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[LocalSidecar, Inbox]]:
    inbox = Inbox()
    with sidecar_in_thread([AppSpec("caller")], COMPONENTS,
                           {"echo": echo_app(), "subscriber": subscriber(inbox)},
                           api_token=TOKEN, resiliency=RESILIENCY) as sidecar:
        yield sidecar, inbox


@pytest.fixture
def sidecar(world: tuple[LocalSidecar, Inbox], monkeypatch: pytest.MonkeyPatch) -> LocalSidecar:
    """The SDK reads its settings from the environment on every call."""
    monkeypatch.setenv("DAPR_HTTP_ENDPOINT", world[0].url("caller"))
    monkeypatch.setenv("DAPR_API_TOKEN", TOKEN)
    monkeypatch.setenv("DAPR_HEALTH_TIMEOUT", "5")
    return world[0]


@pytest.fixture
def inbox(world: tuple[LocalSidecar, Inbox]) -> Inbox:
    return world[1]


def publish(sidecar: LocalSidecar, topic: str, body: bytes = b'{"n": 1}',
            content_type: str = "application/json") -> None:
    """Over HTTP: the SDK's publish_event is gRPC."""
    pubsub = "plain-pubsub" if topic in PLAIN else "pubsub"
    reply = httpx.post(f"{sidecar.url('caller')}/v1.0/publish/{pubsub}/{topic}", content=body,
                       headers={"content-type": content_type, "dapr-api-token": TOKEN})
    assert reply.status_code == 204, reply.text


def test_dapr_client_invokes_over_http(sidecar: LocalSidecar) -> None:
    with DaprClient() as dapr:  # its constructor waits on healthz/outbound, with the token
        reply = dapr.invoke_method("echo", "echo/orders/7", data=b'{"a": 1}',
                                   content_type="application/json", http_verb="POST",
                                   http_querystring=(("x", "1"),), metadata=(("x-custom", "v"),))
        assert reply.status_code == 200
        assert reply.json() == {"method": "POST", "path": "orders/7", "query": "x=1",
                                "body": '{"a": 1}', "contentType": "application/json",
                                "custom": "v", "caller": "caller", "callee": "echo"}
        assert reply.headers["x-echo"] == ["yes"]
        assert dapr.invoke_method("echo", "echo/x", data=b"", http_verb="PUT").status_code == 201

        with pytest.raises(DaprHttpError) as missing:
            dapr.invoke_method("echo", "nowhere", data=b"", http_verb="GET")
        assert missing.value.status_code == 404  # the app's answer, passed through
        with pytest.raises(DaprHttpError) as unknown:
            dapr.invoke_method("ghost", "x", data=b"", http_verb="GET")
        assert (unknown.value.status_code, unknown.value.error_code) == (500, "ERR_DIRECT_INVOKE")


async def test_the_aio_client_invokes_over_http(sidecar: LocalSidecar) -> None:
    dapr = AsyncDaprClient()
    try:
        reply = await dapr.invoke_method("echo", "echo/a b", data="hé", http_verb="POST",
                                         content_type="text/plain; charset=utf-8")
    finally:
        await dapr.close()
    assert reply.status_code == 200
    assert reply.json()["path"] == "a b" and reply.json()["body"] == "hé"


def test_dapr_app_gets_the_cloudevent(sidecar: LocalSidecar, inbox: Inbox) -> None:
    publish(sidecar, "orders")
    [event] = inbox.wait("orders")
    assert event["data"] == {"n": 1}
    assert (event["topic"], event["pubsubname"], event["source"]) == ("orders", "pubsub", "caller")
    assert (event["specversion"], event["type"]) == ("1.0", "com.dapr.event.sent")
    assert event["datacontenttype"] == "application/json"
    assert event["traceid"] == event["traceparent"]


def test_dapr_app_answers_retry_then_gets_the_event_again(
        sidecar: LocalSidecar, inbox: Inbox) -> None:
    inbox.answers["retried"] = ["RETRY"]
    publish(sidecar, "retried")
    first, second = inbox.wait("retried", 2)
    assert first["id"] == second["id"]


def test_dapr_app_drops_to_the_dead_letter_topic(sidecar: LocalSidecar, inbox: Inbox) -> None:
    inbox.answers["dropped"] = ["DROP"]
    publish(sidecar, "dropped")
    [dead] = inbox.wait("dropped-dead")
    [dropped] = inbox.wait("dropped")
    assert (dead["id"], dead["data"]) == (dropped["id"], {"n": 1})


def test_a_dead_lettered_event_still_names_its_topic(sidecar: LocalSidecar, inbox: Inbox) -> None:
    """daprd republishes the envelope unchanged: ``topic`` is the original topic."""
    inbox.answers["dropped-again"] = ["DROP"]
    publish(sidecar, "dropped-again")
    [dead] = inbox.wait("dropped-again-dead")
    assert dead["topic"] == "dropped-again"


def test_retry_with_a_dead_letter_topic_and_no_policy_dead_letters_at_once(
        sidecar: LocalSidecar, inbox: Inbox) -> None:
    inbox.answers["retried-dead-lettered"] = ["RETRY"] * 1000
    publish(sidecar, "retried-dead-lettered")
    assert len(inbox.wait("retried-dead", timeout=1.5)) == 1
    assert len(inbox.events["retried-dead-lettered"]) == 1


def test_retry_without_a_policy_or_dead_letter_topic_is_not_redelivered(
        sidecar: LocalSidecar, inbox: Inbox) -> None:
    """daprd 1.18's pubsub.redis acks a failed delivery: without an inbound retry policy the
    event is gone, as it would be in production."""
    inbox.answers["retried-lost"] = ["RETRY"] * 1000
    publish(sidecar, "retried-lost")
    assert len(inbox.wait("retried-lost", 2, timeout=0.5)) == 1


def test_dapr_app_gets_octet_stream_as_data_base64(sidecar: LocalSidecar, inbox: Inbox) -> None:
    publish(sidecar, "octets", b"\x00\xff\xfe", "application/octet-stream")
    [event] = inbox.wait("octets")
    assert event["datacontenttype"] == "application/octet-stream"
    assert event.get("data_base64") == base64.b64encode(b"\x00\xff\xfe").decode()


def test_a_raw_payload_subscription_gets_the_message_as_data_base64(
        sidecar: LocalSidecar, inbox: Inbox) -> None:
    publish(sidecar, "raw")
    [event] = inbox.wait("raw")
    assert event["datacontenttype"] == "application/octet-stream"
    published = json.loads(base64.b64decode(event["data_base64"]))  # the envelope, as stored
    assert (published["topic"], published["data"]) == ("raw", {"n": 1})
