"""Picks the counters from settings."""

from __future__ import annotations

from redis.asyncio import Redis

from app.ratelimit.base import Counters
from app.ratelimit.memory import MemoryCounters
from app.ratelimit.redis import RedisCounters


def build_counters(redis: Redis | None) -> Counters:
    return RedisCounters(redis) if redis is not None else MemoryCounters()
