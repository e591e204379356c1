"""Topic scopes: allowedTopics, protectedTopics, publishingScopes and subscriptionScopes
(dapr pkg/scopes/scopes.go and IsOperationAllowed in pkg/runtime/pubsub/adapter.go), on the
``scoped-pubsub`` component of this folder."""

from __future__ import annotations

import httpx
import pytest

from kugel_common.dapr.sidecar import SidecarApp
from kugel_common.dapr.sidecar._events import Published
from kugel_common.testing import FakeClock

from .harness import COMPONENTS, Sidecar

TOPICS = ("mine", "secret", "open", "theirs", "elsewhere")


async def test_publishing_scopes_of_this_app(sidecar: Sidecar) -> None:
    for topic in TOPICS:
        allowed = topic in ("mine", "secret")
        for url in (f"/v1.0/publish/scoped-pubsub/{topic}",
                    f"/v1.0/publish/bulk/scoped-pubsub/{topic}"):
            status, code = (204, None) if allowed else (403, "ERR_PUBSUB_FORBIDDEN")
            await sidecar.expect("POST", url, status, code, json=[
                {"entryId": "1", "event": 1, "contentType": "application/json"}])


async def _ignore(_event: Published) -> None:
    pass


def _app(app_id: str) -> SidecarApp:
    return SidecarApp(app_id, COMPONENTS, {}, _ignore, clock=FakeClock().now)


@pytest.mark.parametrize(("app_id", "may_publish", "may_subscribe"), [
    ("app-a", {"mine", "secret"}, {"mine"}),  # listed in both scopes
    ("app-b", {"theirs", "open"}, {"mine", "open"}),  # publishing only: subscribes freely
    ("app-c", {"mine", "open"}, {"mine", "open"}),  # in no scope: all but the protected
])
def test_what_each_app_may_do(app_id: str, may_publish: set[str],
                              may_subscribe: set[str]) -> None:
    app = _app(app_id)
    assert {t for t in TOPICS if app.may_publish("scoped-pubsub", t)} == may_publish
    assert {t for t in TOPICS if app.may_subscribe("scoped-pubsub", t)} == may_subscribe
    assert not app.may_publish("no-such-pubsub", "open")


async def test_another_app_is_refused_over_http() -> None:
    transport = httpx.ASGITransport(_app("app-b").asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as client:
        refused = await client.post("/v1.0/publish/scoped-pubsub/secret", json={})
        accepted = await client.post("/v1.0/publish/scoped-pubsub/theirs", json={})
    assert (refused.status_code, refused.json()["errorCode"]) == (403, "ERR_PUBSUB_FORBIDDEN")
    assert accepted.status_code == 204
