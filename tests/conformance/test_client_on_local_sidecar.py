"""DaprClientHelper against the local sidecar: the two halves agree on every shape."""

from __future__ import annotations

import httpx
import pytest

from kugel_common import (
    BreakerState,
    ComponentNotFoundError,
    DaprError,
    DaprUnavailableError,
    EtagMismatchError,
    ServiceClientPool,
)
from kugel_common.dapr import DaprClientHelper, StateOperation
from kugel_common.dapr.sidecar import Component
from kugel_common.testing import FakeClock

from .harness import COMPONENTS, TOKEN, build


@pytest.fixture
async def dapr() -> DaprClientHelper:
    clock = FakeClock()
    app, _ = build([Component("statestore", "state.in-memory"),
                    Component("pubsub", "pubsub.in-memory")], clock)
    pool = ServiceClientPool(clock=clock, transport=lambda _n, _s: httpx.ASGITransport(app.asgi))
    return DaprClientHelper(pool, environ={"DAPR_API_TOKEN": TOKEN})


async def test_state_through_the_helper(dapr: DaprClientHelper) -> None:
    await dapr.save_state("statestore", "cart/1", {"total": "9.90"})
    entry = await dapr.get_state_with_etag("statestore", "cart/1")
    assert entry is not None and entry.value == {"total": "9.90"}
    await dapr.save_state("statestore", "cart/1", {"total": "10.00"}, etag=entry.etag)
    with pytest.raises(EtagMismatchError):
        await dapr.save_state("statestore", "cart/1", {"total": "0"}, etag=entry.etag)
    with pytest.raises(EtagMismatchError):
        await dapr.save_state("statestore", "cart/1", {}, concurrency="first-write")
    assert await dapr.get_bulk_state("statestore", ["cart/1", "cart/2"]) == {
        "cart/1": {"total": "10.00"}}
    await dapr.execute_state_transaction("statestore", [StateOperation.upsert("x", 1),
                                                        StateOperation.delete("cart/1")])
    assert await dapr.get_state("statestore", "cart/1") is None
    with pytest.raises(ComponentNotFoundError):
        await dapr.get_state("nope", "x")
    await dapr.delete_state("statestore", "x")


async def test_publish_through_the_helper(dapr: DaprClientHelper) -> None:
    assert await dapr.publish_event("pubsub", "t", {"a": 1}, event_id="e-1") == "e-1"
    assert (await dapr.publish_events("pubsub", "t", [1, 2])).ok
    with pytest.raises(ValueError, match="already served"):  # one pool, one sidecar identity
        DaprClientHelper(dapr.pool, api_token="wrong").client("pubsub")
    pool = ServiceClientPool(transport=dapr.pool._transport)
    with pytest.raises(DaprError) as info:
        await DaprClientHelper(pool, api_token="wrong").publish_event("pubsub", "t", {})
    assert info.value.status_code == 401
    assert info.value.error_code is None


async def test_daprd_outbox_through_the_helper() -> None:
    clock = FakeClock()
    app, broker = build([c for c in COMPONENTS if c.name in ("outboxstore", "outbox-internal",
                                                              "pubsub")], clock)
    pool = ServiceClientPool(clock=clock, transport=lambda _n, _s: httpx.ASGITransport(app.asgi))
    dapr = DaprClientHelper(pool, environ={"DAPR_API_TOKEN": TOKEN})
    sale = {"total": "9.90", "lines": [1, 2]}
    await dapr.execute_state_transaction("outboxstore", [
        StateOperation.upsert("sale/1", sale, content_type="application/json",
                              metadata={"type": "sale.completed"}),
        StateOperation.projection("sale/1", {"total": "9.90"})])
    assert await dapr.get_state("outboxstore", "sale/1") == sale
    [intent] = broker
    assert intent.body["type"] == "sale.completed"
    assert intent.body["data"] == {"total": "9.90"}  # the projection, not the saved value

    broker.down = True
    for _ in range(10):
        with pytest.raises(DaprUnavailableError) as info:
            await dapr.execute_state_transaction("outboxstore",
                                                 [StateOperation.upsert("sale/2", 1)])
        assert info.value.error_code == "ERR_PUBLISH_OUTBOX"
    assert await dapr.get_state("outboxstore", "sale/2") is None  # nothing written
    assert dapr.breaker_state("outboxstore") is BreakerState.CLOSED  # the store is fine
