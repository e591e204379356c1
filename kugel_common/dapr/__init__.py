"""Dapr: the sidecar client (pub/sub, state), and the pieces that build on it.

The client, the outbox and the idempotent consumer need only the core; the subscribers are
FastAPI routers, so FastAPI (kugel's ``dapr`` extra) is imported when one is first asked for.
"""

from typing import TYPE_CHECKING, Any

from .._extras import require
from ._client import (
    BulkPublishResult,
    DaprApi,
    DaprClientHelper,
    StateEntry,
    StateOperation,
)
from ._outbox_store import (
    OutboxEvent,
    OutboxRecord,
    OutboxStatus,
    OutboxStore,
    SqliteOutboxStore,
)
from .idempotency import IdempotentConsumer
from .outbox import Outbox, OutboxMessage

if TYPE_CHECKING:
    from .subscriber import CloudEvent, DropEvent, RetryLater, Subscriber

_SUBSCRIBERS = ("CloudEvent", "DropEvent", "RetryLater", "Subscriber")


def __getattr__(name: str) -> Any:
    if name in _SUBSCRIBERS:
        require("kugel_common.dapr's subscribers", "dapr", "fastapi")
        from . import subscriber

        return getattr(subscriber, name)
    raise AttributeError(f"module 'kugel_common.dapr' has no attribute {name!r}")

__all__ = [
    "BulkPublishResult",
    "CloudEvent",
    "DaprApi",
    "DaprClientHelper",
    "DropEvent",
    "IdempotentConsumer",
    "Outbox",
    "OutboxEvent",
    "OutboxMessage",
    "OutboxRecord",
    "OutboxStatus",
    "OutboxStore",
    "RetryLater",
    "SqliteOutboxStore",
    "StateEntry",
    "StateOperation",
    "Subscriber",
]
