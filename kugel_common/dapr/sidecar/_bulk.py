"""``bulkSubscribe``: daprd's default bulk subscriber and bulk handler.

pubsub.redis has no bulk subscribe of its own, so daprd batches what the component's workers
hand it (pkg/runtime/pubsub/default_bulksub.go): a batch goes out at ``maxMessagesCount``
messages or ``maxAwaitDurationMs`` after its first one. Each worker waits for its message's
verdict, so a batch never holds more than ``concurrency`` messages.

The app gets ``POST {route}`` with ``Content-Type: application/json`` and
``{"id", "type": "com.dapr.event.sent.bulk", "topic", "pubsubname", "metadata", "entries":
[{"entryId", "event", "metadata", "contentType"}]}``, one request per route, and answers
``{"statuses": [{"entryId", "status"}]}`` (pkg/runtime/subscription/bulksubscription.go and
postman/http DeliverBulk). An entry's ``metadata`` is the message's publish metadata as stored
(``null`` when it has none), and goes with it, unchanged, to the dead-letter topic; the
request's headers carry ``pubsubname`` only. Unlike a single delivery, an entry with no
status, or an empty status, is a RETRY; a 404 acks the whole batch (no dead letters);
another status fails it. The inbound policy retries only the entries still failing; what
still fails then goes to the dead-letter topic, or back to the broker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ._broker import Message
from ._delivery import BulkSubscribe, Subscription, Verdict
from ._gojson import go_fields
from ._resiliency import AttemptFailed
from ._subscriber import Subscriber, expired, is_raw
from ._tracecontext import bulk_traceparent

__all__ = ["BulkBatcher", "deliver_bulk"]

logger = logging.getLogger("kugel_common.dapr.sidecar")

Handle = Callable[[list[Message]], Awaitable[list[bool]]]


@dataclass
class BulkBatcher:
    """Collects the workers' messages into batches; ``submit`` is the broker's handler."""

    handle: Handle
    bulk: BulkSubscribe
    _waiting: list[tuple[Message, asyncio.Future[bool]]] = field(default_factory=list)
    _timer: asyncio.Task[None] | None = None

    async def submit(self, app_id: str, sub: Subscription, message: Message) -> Verdict:
        verdict: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, verdict))
        if len(self._waiting) >= self.bulk.max_messages:
            self._flush()
        elif len(self._waiting) == 1:
            self._timer = asyncio.create_task(self._flush_later())
        return Verdict.ACK if await verdict else Verdict.RETRY

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.bulk.max_await)
        self._timer = None
        self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[Message, asyncio.Future[bool]]]) -> None:
        try:
            results = await self.handle([message for message, _ in batch])
        except Exception:
            logger.exception("bulk delivery failed")
            results = [False] * len(batch)
        for (_, verdict), ok in zip(batch, results, strict=True):
            if not verdict.done():
                verdict.set_result(ok)


@dataclass
class _Entry:
    message: Message
    entry_id: str
    item: dict[str, Any]
    ok: bool | None = None  # None: not decided yet


async def deliver_bulk(subscriber: Subscriber, app_id: str, sub: Subscription,
                       messages: list[Message]) -> list[bool]:
    """daprd's bulk handler: one success flag per message, in order."""
    try:
        raw = is_raw(sub)
    except ValueError as exc:
        logger.error("%s: bulk delivery of %s: %s", app_id, sub.topic, exc)
        ok = await _bulk_dead_letter(subscriber, sub, messages)
        return [ok] * len(messages)
    entries = [_Entry(m, str(uuid.uuid4()), {}) for m in messages]
    routes: dict[str, list[_Entry]] = {}
    for entry in entries:
        path = await _prepare(subscriber, sub, entry, raw)
        if path is not None:
            routes.setdefault(path, []).append(entry)
    for path, routed in routes.items():
        await _deliver_route(subscriber, app_id, sub, path, routed)
    failed = [e.message for e in entries if not e.ok]
    if failed and await _bulk_dead_letter(subscriber, sub, failed):
        return [True] * len(entries)
    return [bool(e.ok) for e in entries]


async def _prepare(subscriber: Subscriber, sub: Subscription, entry: _Entry,
                   raw: bool) -> str | None:
    """The entry's route, its item filled in; None: decided here (``entry.ok`` set)."""
    message = entry.message
    try:
        if raw:
            event: Any = base64.b64encode(message.data).decode()
            content_type = "application/octet-stream"
            path = sub.route_for(message.data.decode("utf-8", "replace"))
        else:
            event = json.loads(message.data)
            if not isinstance(event, dict):
                raise ValueError("not a CloudEvent: the data is not a JSON object")
            content_type = "application/cloudevents+json"
            if expired(event, subscriber.clock()):
                await subscriber.dead_letter(sub, message, message.metadata)
                entry.ok = True
                return None
            path = sub.route_for(event)
    except ValueError as exc:
        logger.error("bulk entry %s of %s: %s", message.id, sub.topic, exc)
        entry.ok = False
        return None
    if path is None:
        await subscriber.dead_letter(sub, message, message.metadata)
        entry.ok = True
        return None
    entry.item = {"entryId": entry.entry_id, "event": event, "metadata": message.metadata,
                  "contentType": content_type}
    return path


async def _deliver_route(subscriber: Subscriber, app_id: str, sub: Subscription, path: str,
                         routed: list[_Entry]) -> None:
    envelope = {"id": str(uuid.uuid4()), "type": "com.dapr.event.sent.bulk",
                "topic": sub.topic, "pubsubname": sub.pubsub,
                "metadata": {"pubsubName": sub.pubsub}}
    headers = {"content-type": "application/json", "pubsubname": sub.pubsub}

    async def attempt() -> None:
        sending = [e for e in routed if not e.ok]  # a retry sends only what still fails
        body = json.dumps({**envelope, "entries": [e.item for e in sending]}).encode()
        traceparent = bulk_traceparent(e.item.get("event") for e in sending)
        status, answer = await subscriber.post(path, body, headers if traceparent is None
                                               else {**headers, "traceparent": traceparent})
        if status == 404:
            for entry in sending:
                entry.ok = True
            return
        if status is None or not 200 <= status < 300:
            for entry in sending:
                entry.ok = False
            raise AttemptFailed(f"app answered {status}")
        verdicts = _statuses(answer)
        by_id = {e.entry_id: e for e in sending}
        for entry in sending:
            entry.ok = False  # no status for it: RETRY
        for entry_id, verdict in verdicts:
            answered = by_id.get(entry_id)
            if answered is None:
                logger.warning("%s answered for an unknown entry id %s", app_id, entry_id)
                continue
            answered.ok = verdict in ("SUCCESS", "DROP")
            if verdict == "DROP":
                await subscriber.dead_letter(sub, answered.message,
                                             answered.message.metadata)
        if not all(e.ok for e in sending):
            raise AttemptFailed("some entries failed")

    try:
        await subscriber.inbound(sub.pubsub).run(attempt, sleep=subscriber.sleep,
                                                 clock=subscriber.clock)
    except AttemptFailed as exc:
        logger.warning("%s: bulk delivery of %s to %s: %s", app_id, sub.topic, path, exc)


def _statuses(answer: bytes) -> list[tuple[str, str]]:
    """``{"statuses": [{"entryId", "status"}]}`` as Go reads it; a body it cannot decode
    fails every entry (AttemptFailed)."""
    try:
        decoded = go_fields(json.loads(answer), ("statuses",))
    except ValueError as exc:
        raise AttemptFailed(f"failed unmarshalling app response for bulk subscribe: {exc}") \
            from exc
    statuses = decoded.get("statuses") if isinstance(decoded, dict) else None
    if not isinstance(statuses, list | None) or not all(
            isinstance(s, dict) for s in statuses or []):
        raise AttemptFailed("failed unmarshalling app response for bulk subscribe")
    pairs = [go_fields(s, ("entryId", "status")) for s in statuses or []]
    return [(str(p.get("entryId", "")), str(p.get("status", ""))) for p in pairs]


async def _bulk_dead_letter(subscriber: Subscriber, sub: Subscription,
                      messages: list[Message]) -> bool:
    """daprd bulk-publishes the failed entries, unchanged, to the dead-letter topic."""
    results = [await subscriber.dead_letter(sub, message, message.metadata)
               for message in messages]
    return all(results)
