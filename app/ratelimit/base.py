"""The counter protocol the rate limits are built on."""

from __future__ import annotations

from typing import Protocol


class Counters(Protocol):
    async def hit(self, key: str, window_seconds: float) -> tuple[int, float]:
        """Count one event in ``key``'s window (which starts at its first event); the count so far
        and the seconds until the window ends."""
        ...

    async def hold(self, key: str, seconds: float) -> None:
        """Mark ``key`` as held for ``seconds`` (a lockout)."""
        ...

    async def held_for(self, key: str) -> float:
        """Seconds until ``key``'s hold ends; 0 when it is not held."""
        ...

    async def clear(self, *keys: str) -> None: ...
