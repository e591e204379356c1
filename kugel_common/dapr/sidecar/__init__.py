"""A local Dapr sidecar: daprd's HTTP API for pub/sub and state, for machines without daprd.

It reads the same component files as daprd (``dapr/components/``). What differs from daprd is
listed in docs/dapr.md.
"""

from ..._extras import require

require("kugel_common.dapr.sidecar", "sidecar", "fastapi", "uvicorn", "yaml")

from ._app import SidecarApp
from ._backends import RedisUnreachable, StateBackend
from ._components import Component, ComponentError, UnsupportedComponent, load_components
from ._declared import load_subscriptions
from ._local import AppSpec, DataDirUnusable, LocalSidecar
from ._peers import AppDirectory, PeerSecretError, host_address
from ._resiliency import ResiliencyError, load_resiliency
from ._settings import InvalidSetting

__all__ = [
    "AppDirectory",
    "AppSpec",
    "Component",
    "ComponentError",
    "DataDirUnusable",
    "InvalidSetting",
    "LocalSidecar",
    "PeerSecretError",
    "RedisUnreachable",
    "ResiliencyError",
    "SidecarApp",
    "StateBackend",
    "UnsupportedComponent",
    "host_address",
    "load_components",
    "load_resiliency",
    "load_subscriptions",
]
