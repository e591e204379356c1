"""Counts over a sliding time window, in fixed buckets so memory stays constant under load."""

from __future__ import annotations

from collections import deque

from ._clock import Clock

__all__ = ["SlidingCounts"]


class SlidingCounts:
    """Two counters (``hits``, ``misses``) summed over the last ``window`` seconds."""

    def __init__(self, window: float, clock: Clock, buckets: int = 10) -> None:
        self._width = window / buckets
        self._buckets = buckets
        self._clock = clock
        # Each entry: [bucket index, hits, misses]
        self._entries: deque[list[int]] = deque()
        self.hits = 0
        self.misses = 0

    def _current(self) -> list[int]:
        index = int(self._clock.now() // self._width)
        entries = self._entries
        while entries and entries[0][0] <= index - self._buckets:
            _, hits, misses = entries.popleft()
            self.hits -= hits
            self.misses -= misses
        if not entries or entries[-1][0] != index:
            entries.append([index, 0, 0])
        return entries[-1]

    def add(self, *, hits: int = 0, misses: int = 0) -> None:
        entry = self._current()
        entry[1] += hits
        entry[2] += misses
        self.hits += hits
        self.misses += misses

    def totals(self) -> tuple[int, int]:
        self._current()
        return self.hits, self.misses

    def clear(self) -> None:
        self._entries.clear()
        self.hits = self.misses = 0
