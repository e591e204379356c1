"""What passes from a sidecar's API to the broker behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BrokerUnavailable", "Published"]


class BrokerUnavailable(Exception):
    """Raised by ``on_publish`` when the broker behind the pub/sub component is down."""


@dataclass(frozen=True, slots=True)
class Published:
    """An event the sidecar accepted: the envelope (or raw body) as subscribers will get it."""

    pubsub: str
    topic: str
    body: Any
    raw: bool = False
