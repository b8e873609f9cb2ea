"""Counters in Redis, so every instance counts against the same limit."""

from __future__ import annotations

import math

from redis.asyncio import Redis

PREFIX = "llm-aggregator:rate:"

# INCR and the window's expiry in one step: a window can never be left without an end.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {count, redis.call('PTTL', KEYS[1])}
"""


class RedisCounters:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._hit = redis.register_script(_HIT)

    async def hit(self, key: str, window_seconds: float) -> tuple[int, float]:
        count, ttl_ms = await self._hit(keys=[PREFIX + key], args=[max(1, math.ceil(window_seconds * 1000))])
        return int(count), max(0, int(ttl_ms)) / 1000

    async def hold(self, key: str, seconds: float) -> None:
        await self._redis.set(PREFIX + key, 1, px=max(1, math.ceil(seconds * 1000)))

    async def held_for(self, key: str) -> float:
        ttl_ms = await self._redis.pttl(PREFIX + key)
        return max(0, int(ttl_ms)) / 1000

    async def clear(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(PREFIX + key for key in keys))
