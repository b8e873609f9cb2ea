"""Counters in this process: enough for the embedded default, which is one process."""

from __future__ import annotations

import time

# Windows that ended are swept when this many keys have piled up, so the dict stays small.
SWEEP_AT = 10_000


class MemoryCounters:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, monotonic end)
        self._holds: dict[str, float] = {}

    async def hit(self, key: str, window_seconds: float) -> tuple[int, float]:
        now = time.monotonic()
        count, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            if len(self._windows) >= SWEEP_AT:
                self._sweep(now)
            count, ends = 0, now + window_seconds
        count += 1
        self._windows[key] = (count, ends)
        return count, ends - now

    async def hold(self, key: str, seconds: float) -> None:
        self._holds[key] = time.monotonic() + seconds

    async def held_for(self, key: str) -> float:
        ends = self._holds.get(key)
        if ends is None:
            return 0.0
        left = ends - time.monotonic()
        if left <= 0:
            del self._holds[key]
            return 0.0
        return left

    async def clear(self, *keys: str) -> None:
        for key in keys:
            self._windows.pop(key, None)
            self._holds.pop(key, None)

    def _sweep(self, now: float) -> None:
        self._windows = {key: value for key, value in self._windows.items() if value[1] > now}
        self._holds = {key: ends for key, ends in self._holds.items() if ends > now}
