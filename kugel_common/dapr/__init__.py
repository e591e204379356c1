"""Dapr: the sidecar client (pub/sub, state), and the pieces that build on it."""

from ._client import (
    BulkPublishResult,
    DaprClientHelper,
    FailedEntry,
    NonRaisingDaprClient,
    StateEntry,
    StateOperation,
    get_dapr_client,
    set_dapr_client,
)
from .idempotency import IdempotentConsumer
from .outbox import Outbox, OutboxRecord, OutboxStatus
from .subscriber import CloudEvent, DropEvent, RetryLater, Subscriber

__all__ = [
    "BulkPublishResult",
    "CloudEvent",
    "DaprClientHelper",
    "DropEvent",
    "FailedEntry",
    "IdempotentConsumer",
    "NonRaisingDaprClient",
    "Outbox",
    "OutboxRecord",
    "OutboxStatus",
    "RetryLater",
    "StateEntry",
    "StateOperation",
    "Subscriber",
    "get_dapr_client",
    "set_dapr_client",
]
