"""What passes from a sidecar's API to the broker behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BrokerUnavailable", "Published"]


class BrokerUnavailable(Exception):
    """Raised by ``on_publish`` when the broker behind the pub/sub component is down."""


@dataclass(frozen=True, slots=True)
class Published:
    """An event the sidecar accepted: the envelope (or raw body) as subscribers will get it,
    and the publish metadata daprd hands the component with it: every ``metadata.*`` of the
    request (``{}`` when there is none), or None where daprd passes none (a bulk entry
    without metadata, the outbox), which pubsub.redis stores without a ``metadata`` field."""

    pubsub: str
    topic: str
    body: Any
    raw: bool = False
    metadata: Mapping[str, str] | None = None
