"""A local Dapr sidecar: daprd's HTTP API for pub/sub and state, for machines without daprd.

It reads the same component files as daprd (``dapr/components/``). What differs from daprd is
listed in docs/dapr.md.
"""

from ..._extras import require

require("kugel_common.dapr.sidecar", "sidecar", "fastapi", "uvicorn", "yaml")

from ._app import SidecarApp
from ._components import Component, ComponentError, load_components
from ._local import AppSpec, LocalSidecar
from ._peers import AppDirectory, host_address

__all__ = [
    "AppDirectory",
    "AppSpec",
    "Component",
    "ComponentError",
    "LocalSidecar",
    "SidecarApp",
    "host_address",
    "load_components",
]
