"""Dapr: the sidecar client (pub/sub, state), and the pieces that build on it."""

from .._extras import require

require("kugel_common.dapr", "dapr", "fastapi")

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
from .subscriber import CloudEvent, DropEvent, RetryLater, Subscriber

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
