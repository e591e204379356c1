"""A local Dapr sidecar: daprd's HTTP API for pub/sub and state, for machines without daprd.

It reads the same component files as daprd (``dapr/components/``). What differs from daprd is
listed in docs/dapr.md.
"""

from ._app import Published, SidecarApp
from ._components import Component, ComponentError, load_components
from ._state import MemoryStateStore

__all__ = [
    "Component",
    "ComponentError",
    "MemoryStateStore",
    "Published",
    "SidecarApp",
    "load_components",
]
