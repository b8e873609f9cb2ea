from __future__ import annotations

from redis.asyncio import Redis

from app.broker.base import Broker
from app.broker.memory import MemoryBroker
from app.broker.redis import RedisBroker


def build_broker(redis: Redis | None) -> Broker:
    """Redis when configured (any number of instances), else in-process (the embedded default)."""
    return RedisBroker(redis) if redis is not None else MemoryBroker()
