"""Counters in Redis, so every instance counts against the same limit.

While Redis cannot be reached the limits are not enforced (a warning is logged): an outage must not
lock every user out of signing in or sending.
"""

from __future__ import annotations

import logging
import math

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

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
        try:
            count, ttl_ms = await self._hit(keys=[PREFIX + key], args=[max(1, math.ceil(window_seconds * 1000))])
        except (RedisError, OSError):
            logger.warning("rate limits not enforced: Redis unavailable")
            return 0, window_seconds
        return int(count), max(0, int(ttl_ms)) / 1000

    async def hold(self, key: str, seconds: float) -> None:
        try:
            await self._redis.set(PREFIX + key, 1, px=max(1, math.ceil(seconds * 1000)))
        except (RedisError, OSError):
            logger.warning("rate limits not enforced: Redis unavailable")

    async def held_for(self, key: str) -> float:
        try:
            ttl_ms = await self._redis.pttl(PREFIX + key)
        except (RedisError, OSError):
            logger.warning("rate limits not enforced: Redis unavailable")
            return 0.0
        return max(0, int(ttl_ms)) / 1000

    async def clear(self, *keys: str) -> None:
        if keys:
            try:
                await self._redis.delete(*(PREFIX + key for key in keys))
            except (RedisError, OSError):
                logger.warning("rate limits not enforced: Redis unavailable")
