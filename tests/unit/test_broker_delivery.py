"""The local sidecar's delivery loop survives any error and keeps delivering later events."""

from __future__ import annotations

import asyncio
from collections import Counter

from kugel_common.dapr.sidecar._broker import Broker, Message
from kugel_common.dapr.sidecar._delivery import Subscription, Verdict
from kugel_common.dapr.sidecar._events import Published


async def test_no_error_stops_delivery_of_later_events() -> None:
    broker = Broker(redelivery_initial=0.0)
    sub = Subscription("pubsub", "sales", "/sales", dead_letter_topic="sales-dead")
    attempts: Counter[int] = Counter()
    acked: list[int] = []
    dead: list[int] = []

    async def deliver(app_id: str, subscription: Subscription, message: Message) -> Verdict:
        n = message.body["data"]["n"]
        attempts[n] += 1
        if n == 1 and attempts[n] == 1:
            raise RuntimeError("a bad route")  # an error of the sidecar's own
        if n == 2:  # dropped while the broker is down: the dead-letter publish fails
            if attempts[n] == 1:
                broker.set_available(False)
                asyncio.get_running_loop().call_later(0.05, broker.set_available, True)
            return Verdict.DROP
        acked.append(n)
        return Verdict.ACK

    async def dead_letters(app_id: str, subscription: Subscription, message: Message) -> Verdict:
        dead.append(message.body["data"]["n"])
        return Verdict.ACK

    broker.attach("report", sub, deliver)
    broker.attach("report", Subscription("pubsub", "sales-dead", "/dead"), dead_letters)
    for n in range(10):
        broker.publish(Published("pubsub", "sales", {"data": {"n": n}}))
    async with asyncio.timeout(5):
        while len(acked) < 9 or not dead:  # noqa: ASYNC110 (polls what the loop delivered)
            await asyncio.sleep(0.01)
    await broker.aclose()
    assert sorted(acked) == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert attempts[1] == 2  # retried after the error, not lost
    assert dead == [2] and attempts[2] == 2  # dead-lettered once the broker was back
