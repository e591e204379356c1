"""End to end on real sockets: outbox -> local sidecar -> two subscriber apps, across an outage.

1000 events go into the outbox while the sidecar is stopped; the publisher's breaker opens.
On the Redis backend `make test` sends 200 and `make conformance` all of them
(``KUGEL_REDIS_FULL=1``).
The sidecar restarts, the breaker recovers, and each subscriber applies every event exactly
once, although it answers RETRY to the first delivery of every 10th event.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from kugel_common import BreakerState, ServiceClientPool, set_testing
from kugel_common.dapr import (
    CloudEvent,
    DaprClientHelper,
    IdempotentConsumer,
    Outbox,
    RetryLater,
    Subscriber,
)
from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar, load_resiliency
from kugel_common.testing import FakeClock

from ..backends import Backend
from .server import free_port, serve_here

EVENTS = 1000
EVENTS_ON_REDIS = EVENTS if os.environ.get("KUGEL_REDIS_FULL") == "1" else 200
COMPONENTS = [Component("pubsub", "pubsub.redis"), Component("statestore", "state.redis")]
# pubsub.redis acks a delivery that failed: the retry must be the sidecar's inbound policy.
RESILIENCY = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: delivery}
spec:
  policies:
    retries:
      redeliver: {policy: constant, duration: 1s, maxRetries: 3}
  targets:
    components:
      pubsub: {inbound: {retry: redeliver}}
"""



class Tranlog(BaseModel):
    n: int


class SubscriberApp:
    """A FastAPI app that applies each tranlog once, through its own sidecar's state store."""

    def __init__(self, sidecar_url: str) -> None:
        self.deliveries: Counter[int] = Counter()
        self.applied: Counter[int] = Counter()
        self.pool = ServiceClientPool()
        consumer = IdempotentConsumer(DaprClientHelper(self.pool, sidecar_url=sidecar_url,
                                                       environ={}), "statestore")
        subscriber = Subscriber(environ={"APP_API_TOKEN": "app-token"})

        @subscriber.subscribe("pubsub", "topic-tranlog")
        async def on_tranlog(event: CloudEvent[Tranlog]) -> None:
            n = event.data.n
            self.deliveries[n] += 1
            if n % 10 == 0 and self.deliveries[n] == 1:
                raise RetryLater
            if await consumer.apply(event.id, f"applied:{n}", lambda count: (count or 0) + 1):
                self.applied[n] += 1

        self.app = FastAPI()
        self.app.include_router(subscriber.router)


@pytest.fixture
async def apps() -> AsyncIterator[tuple[dict[str, int], SubscriberApp, SubscriberApp]]:
    ports = {name: free_port() for name in ("cart", "report", "journal")}
    report = SubscriberApp(f"http://127.0.0.1:{ports['report']}")
    journal = SubscriberApp(f"http://127.0.0.1:{ports['journal']}")
    yield ports, report, journal
    await report.pool.aclose()
    await journal.pool.aclose()


async def until(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_events_survive_a_sidecar_outage(
    apps: tuple[dict[str, int], SubscriberApp, SubscriberApp], tmp_path: Path,
    backend: Backend,
) -> None:
    ports, report, journal = apps
    events = EVENTS if backend.server is None else EVENTS_ON_REDIS
    clock = FakeClock()  # the publisher's backoff and breaker timing: no real waits
    publisher_pool = ServiceClientPool(clock=clock)
    dapr = DaprClientHelper(publisher_pool, sidecar_url=f"http://127.0.0.1:{ports['cart']}",
                            environ={})
    async with serve_here(report.app) as report_url, serve_here(journal.app) as journal_url:
        specs = [AppSpec("cart", ports["cart"]),
                 AppSpec("report", ports["report"], report_url),
                 AppSpec("journal", ports["journal"], journal_url)]

        (tmp_path / "policies").mkdir()
        (tmp_path / "policies" / "resiliency.yaml").write_text(RESILIENCY)
        resiliency = load_resiliency([tmp_path / "policies"])

        def sidecar() -> LocalSidecar:
            return backend.sidecar(specs, COMPONENTS, data_dir=tmp_path / "sidecar",
                                   app_api_token="app-token", resiliency=resiliency,
                                   sleep=FakeClock().sleep)

        async with sidecar():
            await dapr.wait_for_sidecar(timeout=5)
        # The sidecar is stopped: the outbox takes every event, and the breaker opens.
        with set_testing(True):
            async with Outbox(dapr, tmp_path / "outbox.sqlite3", clock=clock) as outbox:
                for n in range(events):
                    await outbox.publish("pubsub", "topic-tranlog", {"n": n})
                await until(lambda: dapr.breaker_state("pubsub") is BreakerState.OPEN, 10)
                assert (await outbox.counts())["pending"] == events

                async with sidecar():  # restarted
                    await outbox.drain(timeout=60)
                    await until(lambda: len(report.applied) == len(journal.applied) == events,
                                60)
                assert dapr.breaker_state("pubsub") is BreakerState.CLOSED
                assert (await outbox.counts())["delivered"] == events
    await publisher_pool.aclose()

    for app in (report, journal):
        assert set(app.applied) == set(range(events))
        assert set(app.applied.values()) == {1}  # each applied exactly once
        assert all(app.deliveries[n] >= 2 for n in range(0, events, 10))  # RETRY redelivered
        assert sum(app.deliveries.values()) >= events + events // 10
