"""Vault keys of users who unlocked their vault, for a limited time.

In Redis when configured (every instance sees an unlock), else in this
process. What is stored is already wrapped by the master key (see
``Vault.remember_vault_key``): Redis never holds a usable key.
"""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

PREFIX = "llm-aggregator:vault-open:"


class UnlockedVaults:
    def __init__(self, redis: Redis | None, ttl_seconds: float) -> None:
        self._redis = redis
        self.ttl_seconds = ttl_seconds
        self._memory: dict[uuid.UUID, tuple[float, bytes]] = {}

    async def put(self, owner_id: uuid.UUID, blob: bytes) -> None:
        if self._redis is not None:
            await self._redis.set(f"{PREFIX}{owner_id}", blob, px=max(1, int(self.ttl_seconds * 1000)))
            return
        self._memory[owner_id] = (time.monotonic() + self.ttl_seconds, blob)

    async def get(self, owner_id: uuid.UUID) -> tuple[bytes, float] | None:
        """The blob and the seconds it has left, or None when the vault is locked."""
        if self._redis is not None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(f"{PREFIX}{owner_id}")
                pipe.pttl(f"{PREFIX}{owner_id}")
                blob, ttl_ms = await pipe.execute()
            return (bytes(blob), max(0, int(ttl_ms)) / 1000) if blob is not None else None
        entry = self._memory.get(owner_id)
        if entry is None:
            return None
        left = entry[0] - time.monotonic()
        if left <= 0:
            del self._memory[owner_id]
            return None
        return entry[1], left

    async def drop(self, owner_id: uuid.UUID) -> None:
        if self._redis is not None:
            await self._redis.delete(f"{PREFIX}{owner_id}")
            return
        self._memory.pop(owner_id, None)
