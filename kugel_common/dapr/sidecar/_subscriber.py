"""daprd's handler for one subscribed message (pkg/runtime/subscription/subscription.go).

Given the bytes the broker stored, it decides what the app gets and what the broker hears:

- The message's metadata (what the publisher gave, plus ``pubsubName``) goes to the app as
  headers (``_message_headers``) and, with its trace fields, into a raw payload's CloudEvent;
  the event's own ``traceparent`` (or ``traceid``) field, when it parses, is the app's
  ``traceparent`` header (``_tracecontext``).
- ``rawPayload`` (Go ``strconv.ParseBool``) wraps the bytes in a CloudEvent with
  ``data_base64`` and ``datacontenttype: application/octet-stream``; otherwise the bytes must
  be a JSON object (a CloudEvent) and are POSTed unchanged as ``application/cloudevents+json``,
  unless the metadata's ``content-type`` is ``application/octet-stream``: then the bytes go as
  they are, and routes and expiry read a CloudEvent made of the ``ce_*`` metadata.
- An expired event, or one that no routing rule matches, is dropped (to the dead-letter topic
  if set): a success for the broker.
- Delivery runs under the pub/sub component's inbound resiliency policy. A DROP (or 404) goes
  to the dead-letter topic inside the attempt; RETRY, another status or no answer fails it.
- When the policy gives up (or there is none), or the bytes or the route cannot be read: with
  a dead-letter topic the event goes there at once, unchanged (its ``topic`` still names the
  original one) and with the message's metadata, and the broker hears success; without one,
  the broker hears failure.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._broker import Message
from ._cloudevents import media_type
from ._delivery import Subscription, Verdict, verdict_of
from ._events import Published
from ._go import go_bool
from ._message_headers import delivery_headers
from ._resiliency import AttemptFailed, Policy, Sleep
from ._tracecontext import event_traceparent

__all__ = ["Post", "Subscriber", "expired", "is_raw", "raw_cloud_event"]

logger = logging.getLogger("kugel_common.dapr.sidecar")

# POST to the app: (path, body, headers) -> (status or None when unreachable, body)
Post = Callable[[str, bytes, Mapping[str, str]], Awaitable[tuple[int | None, bytes]]]


@dataclass
class Subscriber:
    """The handler the broker calls for each message of an app's subscriptions."""

    post: Post
    publish: Callable[[Published], Awaitable[object]]
    inbound: Callable[[str], Policy]  # pubsub name -> its inbound policy
    sleep: Sleep
    clock: Callable[[], float] = time.time

    async def handle(self, app_id: str, sub: Subscription, message: Message) -> Verdict:
        metadata = {**(message.metadata or {}), "pubsubName": sub.pubsub}
        try:
            path, body, traceparent = await self.prepare(sub, message, metadata)
        except ValueError as exc:
            logger.error("%s: cannot deliver event %s of %s: %s", app_id, message.id,
                         sub.topic, exc)
            return await self.give_up(sub, message, metadata)
        if path is None:
            return Verdict.ACK
        headers = {**delivery_headers(metadata), "content-type": "application/cloudevents+json"}
        if traceparent is not None:  # the event's context replaces the metadata's
            headers["traceparent"] = traceparent

        async def attempt() -> None:
            status, answer = await self.post(path, body, headers)
            verdict = verdict_of(status, answer)
            if verdict is Verdict.DROP:
                logger.warning("%s dropped event %s of %s", app_id, message.id, sub.topic)
                if sub.dead_letter_topic and not await self.dead_letter(sub, message, metadata):
                    raise AttemptFailed("dropped, and the dead-letter publish failed")
            elif verdict is Verdict.RETRY:
                code = status if status is not None and not 200 <= status < 300 else None
                raise AttemptFailed(f"app answered {status}", code)

        try:
            await self.inbound(sub.pubsub).run(attempt, sleep=self.sleep, clock=self.clock)
        except AttemptFailed as exc:
            logger.warning("%s: delivery of event %s of %s failed: %s", app_id, message.id,
                           sub.topic, exc)
            return await self.give_up(sub, message, metadata)
        return Verdict.ACK

    async def prepare(self, sub: Subscription, message: Message,
                      metadata: Mapping[str, str]) -> tuple[str | None, bytes, str | None]:
        """The route, body and the event's ``traceparent`` for the app (``_tracecontext``);
        route None: dropped here (expired, or no rule matches). ValueError for what daprd
        cannot read (metadata, bytes, a routing rule)."""
        body = message.data  # as stored: daprd re-encodes only a raw payload's CloudEvent
        content_type = metadata.get("content-type", "application/json")
        if is_raw(sub):
            event: Any = raw_cloud_event(message.data, sub.topic, sub.pubsub)
            _trace(event, metadata, keep=False)
            body = _go_json(event)
        else:
            if media_type(content_type) == "application/octet-stream":
                event = {name[3:]: value for name, value in
                         ((k.lower(), v) for k, v in metadata.items()) if name.startswith("ce_")}
                event.update(data=message.data, datacontenttype=content_type)
            else:
                event = _cloud_event(message.data)
                if event is not None:
                    _trace(event, metadata, keep=True)
            if event is not None and expired(event, self.clock()):
                logger.warning("dropping expired pub/sub event %s", event.get("id"))
                await self.dead_letter(sub, message, metadata)
                return None, body, None
        path = sub.route_for(event)
        if path is None:
            logger.debug("no matching route for event %s of %s", message.id, sub.topic)
            await self.dead_letter(sub, message, metadata)
        return path, body, event_traceparent(event)

    async def give_up(self, sub: Subscription, message: Message,
                      metadata: Mapping[str, str]) -> Verdict:
        """A failed delivery: to the dead-letter topic at once, or back to the broker."""
        return Verdict.ACK if await self.dead_letter(sub, message, metadata) else Verdict.RETRY

    async def dead_letter(self, sub: Subscription, message: Message,
                          metadata: Mapping[str, str] | None) -> bool:
        """Republish the stored bytes unchanged, with ``metadata`` as their publish metadata;
        False when there is no topic or it failed."""
        if not sub.dead_letter_topic:
            return False
        try:
            await self.publish(Published(sub.pubsub, sub.dead_letter_topic, message.data,
                                         raw=True, metadata=metadata))
        except Exception as exc:  # daprd logs any publish error and redelivers
            logger.error("error sending message to dead letter, origin topic: %s dead letter "
                         "topic %s err: %s", sub.topic, sub.dead_letter_topic, exc)
            return False
        logger.warning("event %s of %s sent to dead-letter topic %s", message.id, sub.topic,
                       sub.dead_letter_topic)
        return True


def is_raw(sub: Subscription) -> bool:
    """Subscription metadata ``rawPayload``, as Go's ParseBool reads it (ValueError)."""
    value = sub.metadata.get("rawPayload", "")
    return go_bool(value) if value else False


def raw_cloud_event(data: bytes, topic: str, pubsub: str) -> dict[str, Any]:
    """components-contrib ``FromRawPayload``: a fresh id on every delivery."""
    return {"id": str(uuid.uuid4()), "specversion": "1.0",
            "datacontenttype": "application/octet-stream", "source": "Dapr",
            "type": "com.dapr.event.sent", "topic": topic, "pubsubname": pubsub,
            "data_base64": base64.b64encode(data).decode()}


def expired(event: Any, now: float) -> bool:
    """components-contrib ``HasExpired``: an RFC 3339 ``expiration`` in the past."""
    value = event.get("expiration") if isinstance(event, dict) else None
    if not isinstance(value, str) or not value:
        return False
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return False
    return when.tzinfo is not None and when.astimezone(UTC).timestamp() < now


def _cloud_event(data: bytes) -> dict[str, Any] | None:
    """The stored bytes as daprd's json.Unmarshal into a map reads them (``null``: None)."""
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"not a CloudEvent: {exc}") from exc
    if event is not None and not isinstance(event, dict):
        raise ValueError("not a CloudEvent: the data is not a JSON object")
    return event


def _trace(event: dict[str, Any], metadata: Mapping[str, str], *, keep: bool) -> None:
    """The metadata's trace fields into the event (``keep``: only those it lacks); a
    ``traceparent`` sets ``traceid`` too."""
    for name in ("traceid", "traceparent", "tracestate"):
        if name in metadata and not (keep and name in event):
            event[name] = metadata[name]
            if name == "traceparent":
                event["traceid"] = metadata[name]


def _go_json(value: Any) -> bytes:
    """Go's ``json.Marshal`` of a map: keys sorted, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
