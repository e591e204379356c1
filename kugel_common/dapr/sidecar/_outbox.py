"""daprd's transactional outbox (v1.18), run the way daprd runs it, losses included.

A state component with ``outboxPublishPubsub`` and ``outboxPublishTopic`` publishes an event for
each upsert of a transaction (shared/dapr-outbox.md has the facts from daprd's source):

1. before the commit, an intent goes to ``{namespace}{appID}{topic}outbox`` on ``outboxPubsub``,
   a CloudEvent whose id is a new marker key ``outbox-<uuid>``; a broker that refuses it fails
   the transaction with ``ERR_PUBLISH_OUTBOX`` and nothing is written;
2. the marker is written in the same transaction as the user's keys;
3. a consumer of the internal topic waits 1 s, polls for the marker up to 10 s, publishes the same
   envelope to the user topic, then deletes the marker.

kugel does not rely on it on the stack it deploys (docs/dapr.md says why); the local sidecar runs
it so that code which does gets what daprd would give, not an idealised version.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._broker import Message
from ._components import Component
from ._delivery import Subscription, Verdict
from ._events import BrokerUnavailable, Published
from ._state import Store, Write

__all__ = ["OutboxConfig", "OutboxIntent", "OutboxRelay", "go_format", "outbox_intents"]

logger = logging.getLogger("kugel_common.dapr.sidecar")

MARKER_PREFIX = "outbox-"
PROJECTION = "outbox.projection"
_TRUTHY = frozenset({"1", "true", "t", "yes", "y", "on"})  # dapr/kit strings.IsTruthy


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """The outbox settings of one state component; ``of`` is None when it has none."""

    store: str
    publish_pubsub: str  # where the user's event goes
    publish_topic: str
    pubsub: str  # where the internal intent goes
    discard_when_missing: bool

    @classmethod
    def of(cls, component: Component) -> OutboxConfig | None:
        """daprd turns the outbox on only when both required keys are set, and says nothing
        when one is missing: the transaction then simply publishes nothing."""
        meta = component.metadata
        pubsub, topic = meta.get("outboxPublishPubsub"), meta.get("outboxPublishTopic")
        if component.kind != "state" or not pubsub or not topic:
            return None
        return cls(component.name, pubsub, topic, meta.get("outboxPubsub") or pubsub,
                   meta.get("outboxDiscardWhenMissingState", "").lower() in _TRUTHY)

    def internal_topic(self, namespace: str, app_id: str) -> str:
        return f"{namespace}{app_id}{self.publish_topic}outbox"


@dataclass(frozen=True, slots=True)
class OutboxIntent:
    """One upsert's internal message and the marker write that commits with it."""

    published: Published
    marker: Write


def outbox_intents(
    config: OutboxConfig,
    app_id: str,
    namespace: str,
    operations: Sequence[tuple[Write, Mapping[str, Any]]],
    trace: tuple[str, str],
) -> tuple[list[Write], list[OutboxIntent]]:
    """The writes to commit, and one intent per upsert that is not a projection; each write
    comes with its HTTP ``request``. Deletes publish nothing.

    A projection (``metadata: {"outbox.projection": "true"}``) is not saved: its value becomes
    the published data of the upsert of the same key. The last one wins; one whose key has no
    upsert is dropped without a word, as daprd does.
    """
    projections = {write.key: request for write, request in operations
                   if write.value is not None and _is_projection(request)}
    committed = [(write, request) for write, request in operations
                 if write.value is None or not _is_projection(request)]
    intents = []
    topic = config.internal_topic(namespace, app_id)
    for write, request in committed:
        if write.value is None:
            continue
        marker = f"{MARKER_PREFIX}{uuid.uuid4()}"
        envelope = _envelope(marker, app_id, request, projections.get(write.key), trace)
        envelope.update(topic=topic, pubsubname=config.pubsub)
        intents.append(OutboxIntent(Published(config.pubsub, topic, envelope),
                                    Write(key=marker, value=b'"0"')))
    return [write for write, _ in committed], intents


def _is_projection(request: Mapping[str, Any]) -> bool:
    return str(_metadata_of(request).get(PROJECTION, "")).lower() == "true"


def _metadata_of(request: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = request.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _envelope(marker: str, app_id: str, request: Mapping[str, Any],
              projection: Mapping[str, Any] | None, trace: tuple[str, str]) -> dict[str, Any]:
    """daprd's envelope: the data from the projection if any, and every metadata entry of the
    upsert copied as a CloudEvent attribute (``id`` and ``data`` excepted), so ``type`` or
    ``subject`` set there override the defaults, and ``cloudevent.type`` stays literal.
    ``trace`` is the request's (traceparent, tracestate): daprd's ``PublishInternal`` sets
    ``traceid`` to it and leaves ``traceparent`` empty."""
    source = projection if projection is not None else request
    metadata = _metadata_of(request)
    content_type = str(source.get("contentType") or _metadata_of(source).get("contentType")
                       or "text/plain")
    value = source.get("value")
    envelope: dict[str, Any] = {
        "id": marker, "source": app_id, "type": "com.dapr.event.sent", "specversion": "1.0",
        "datacontenttype": content_type,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "traceid": trace[0], "traceparent": "", "tracestate": trace[1],
        "data": value if content_type.lower() == "application/json" else go_format(value),
    }
    for name, attribute in metadata.items():
        if name not in ("id", "data"):
            envelope[str(name)] = attribute
    return envelope


def go_format(value: Any) -> str:
    """What Go's ``fmt.Sprintf("%v", v)`` gives for a decoded JSON value: a JSON object sent
    without ``contentType: application/json`` reaches subscribers as ``map[a:1]``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e21 else repr(number)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    return json.dumps(value)


Sleep = Callable[[float], Awaitable[None]]
Publish = Callable[[Published], Awaitable[object]]


@dataclass
class OutboxRelay:
    """The consumer of one store's internal topic (daprd's ``SubscribeToInternalTopics``).

    ``lossy`` is true when ``outboxPubsub`` is pubsub.redis: Redis streams ack a message whose
    handler failed, and the outbox handler has no resiliency policy, so any failed step (marker
    not found, user publish refused, marker delete failed) drops the user's event for good.
    """

    config: OutboxConfig
    store: Store
    publish: Publish
    sleep: Sleep
    lossy: bool
    scan_delay: float = 1.0  # daprd's defaultStateScanDelay: every message waits this long
    max_elapsed: float = 10.0  # how long the marker is polled for (500 ms, x3, at most 3 s)

    def subscription(self, namespace: str, app_id: str) -> Subscription:
        """Subscribed on the component directly: it never shows in ``/v1.0/metadata``."""
        return Subscription(self.config.pubsub, self.config.internal_topic(namespace, app_id),
                            default_route="")

    async def deliver(self, app_id: str, sub: Subscription, message: Message) -> Verdict:
        envelope = message.body
        marker = envelope.get("id") if isinstance(envelope, dict) else None
        if not isinstance(marker, str):
            return self._failed(app_id, "the internal message has no id")
        await self.sleep(self.scan_delay)
        if not await self._poll(marker):
            if self.config.discard_when_missing:
                logger.info("%s: outbox marker %s not found; discarded", app_id, marker)
                return Verdict.ACK
            return self._failed(app_id, f"marker {marker} not found, rejecting for later "
                                        "processing")
        event = {**envelope, "topic": self.config.publish_topic,
                 "pubsubname": self.config.publish_pubsub}
        try:
            await self.publish(Published(self.config.publish_pubsub, self.config.publish_topic,
                                         event))
        except BrokerUnavailable as exc:
            return self._failed(app_id, f"publishing {marker}: {exc}")
        await self.store.apply([Write(key=marker, value=None)])
        return Verdict.ACK

    async def _poll(self, marker: str) -> bool:
        elapsed, interval = 0.0, 0.5
        while await self.store.get(marker) is None:
            if elapsed >= self.max_elapsed:
                return False
            await self.sleep(interval)
            elapsed += interval
            interval = min(interval * 3, 3.0)
        return True

    def _failed(self, app_id: str, reason: str) -> Verdict:
        if self.lossy:
            logger.error("%s: outbox: %s; pubsub.redis acks it anyway: the event is lost",
                         app_id, reason)
            return Verdict.ACK
        logger.warning("%s: outbox: %s; redelivered", app_id, reason)
        return Verdict.RETRY
