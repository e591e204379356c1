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

__all__ = [
    "BulkPublishResult",
    "DaprClientHelper",
    "FailedEntry",
    "NonRaisingDaprClient",
    "StateEntry",
    "StateOperation",
    "get_dapr_client",
    "set_dapr_client",
]
