"""A local Dapr sidecar: daprd's HTTP API for pub/sub and state, for machines without daprd.

It reads the same component files as daprd (``dapr/components/``). What differs from daprd is
listed in docs/dapr.md.
"""

from ..._extras import require

require("kugel_common.dapr.sidecar", "sidecar", "fastapi", "uvicorn", "yaml")

from ._app import SidecarApp
from ._broker import Broker, Message
from ._components import Component, ComponentError, load_components
from ._delivery import Subscription, Verdict, parse_subscriptions, verdict_of
from ._events import BrokerUnavailable, Published
from ._local import AppSpec, LocalSidecar
from ._state import StateStore

__all__ = [
    "AppSpec",
    "Broker",
    "BrokerUnavailable",
    "Component",
    "ComponentError",
    "LocalSidecar",
    "Message",
    "Published",
    "SidecarApp",
    "StateStore",
    "Subscription",
    "Verdict",
    "load_components",
    "parse_subscriptions",
    "verdict_of",
]
