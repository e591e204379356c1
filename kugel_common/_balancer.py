"""Round-robin over a service's instances, with passive outlier ejection.

An instance that refuses connections is skipped for ``cooldown`` seconds. When every instance is
ejected, kugel still tries one rather than failing without trying.
"""

from __future__ import annotations

from collections.abc import Collection

from ._clock import Clock

__all__ = ["Balancer"]


class Balancer:
    def __init__(self, instances: tuple[str, ...], cooldown: float, clock: Clock) -> None:
        self.instances = instances
        self._cooldown = cooldown
        self._clock = clock
        self._next = 0
        self._ejected_until: dict[str, float] = {}

    def pick(self, exclude: Collection[str] = ()) -> str:
        """The next healthy instance not in ``exclude``; fall back to ejected, then excluded."""
        instances = self.instances
        if len(instances) == 1:
            return instances[0]
        now = self._clock.now()
        count = len(instances)
        start = self._next
        self._next = (start + 1) % count
        fallback: str | None = None
        for offset in range(count):
            candidate = instances[(start + offset) % count]
            if candidate in exclude:
                continue
            if self._ejected_until.get(candidate, 0.0) <= now:
                return candidate
            fallback = fallback or candidate
        return fallback or instances[start]

    def eject(self, instance: str) -> None:
        if len(self.instances) > 1:
            self._ejected_until[instance] = self._clock.now() + self._cooldown

    def is_ejected(self, instance: str) -> bool:
        return self._ejected_until.get(instance, 0.0) > self._clock.now()
