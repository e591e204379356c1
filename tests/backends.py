"""The two backends of the local sidecar's state.redis and pubsub.redis components, for tests
that must hold on both: the embedded SQLite store and streams, and a private Redis in daprd's
layout (the ``backend`` fixture, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar, StateBackend

from .redis_server import RedisServer, on_redis

__all__ = ["Backend"]


@dataclass(frozen=True, slots=True)
class Backend:
    """Embedded when ``server`` is None, else that Redis (emptied before the test)."""

    server: RedisServer | None = None

    @property
    def name(self) -> StateBackend:
        """What ``--state-backend`` and ``LocalSidecar(state_backend=...)`` take."""
        return StateBackend.EMBEDDED if self.server is None else StateBackend.REDIS

    def components(self, components: Sequence[Component]) -> list[Component]:
        """The components, their Redis ones pointed at this backend's server."""
        if self.server is None:
            return list(components)
        return on_redis(list(components), self.server.host)

    def sidecar(self, apps: Sequence[AppSpec], components: Sequence[Component],
                **options: Any) -> LocalSidecar:
        """A LocalSidecar that keeps these components' data on this backend."""
        return LocalSidecar(apps, self.components(components), state_backend=self.name,
                            **options)
