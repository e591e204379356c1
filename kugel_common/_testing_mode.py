"""Testing mode, as in stamina: one call makes every backoff instant, without monkeypatching.

The mode is process-global on purpose: tests set it once (or through the ``no_wait`` fixture)
for every pool they build. :func:`set_testing` returns a handle that restores the previous mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Testing", "max_attempts", "set_testing", "waits_are_instant"]

_mode: tuple[bool, int | None] = (False, None)  # (enabled, attempts cap)


@dataclass(slots=True)
class Testing:
    """Handle returned by :func:`set_testing`; leaving it (or ``restore()``) undoes the call."""

    enabled: bool
    attempts: int | None
    _previous: tuple[bool, int | None] = field(repr=False)

    def restore(self) -> None:
        global _mode
        _mode = self._previous

    def __enter__(self) -> Testing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


def set_testing(enabled: bool, *, attempts: int | None = None) -> Testing:
    """Make every backoff instant and optionally cap attempts, without monkeypatching.

    ``with set_testing(True, attempts=2): ...`` restores the previous mode on exit.
    """
    global _mode
    previous = _mode
    _mode = (enabled, attempts)
    return Testing(enabled, attempts, previous)


def waits_are_instant() -> bool:
    """Whether backoff and ``Retry-After`` waits are zeroed."""
    return _mode[0]


def max_attempts(configured: int) -> int:
    """``configured``, capped by the testing mode's ``attempts`` while it is on."""
    enabled, attempts = _mode
    return min(configured, attempts) if enabled and attempts else configured
