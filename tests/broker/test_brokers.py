"""Both brokers against the same expectations; Redis is the real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.broker.base import Broker
from app.broker.events import Delta, End, InboxEvent
from app.broker.inbox import Inbox
from app.broker.memory import MemoryBroker
from app.broker.redis import RedisBroker
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        instance: Broker = MemoryBroker()
        await instance.start()
        yield instance
        await instance.close()
        return
    redis = Redis.from_url(REDIS_URL)
    instance = RedisBroker(redis, replay_ttl=60)
    await instance.start()
    yield instance
    await instance.close()
    await redis.aclose()


async def next_event(inbox: Inbox) -> InboxEvent:
    event = await inbox.get(idle_after=5)
    assert event is not None, "nothing arrived"
    return event


async def test_subscribers_get_what_is_published_after_they_subscribe(broker: Broker) -> None:
    stream = str(uuid.uuid4())
    async with broker.subscribe(stream) as first, broker.subscribe(stream) as second:
        await broker.publish(stream, Delta(0, "a"))
        await broker.publish(stream, Delta(1, "b"))
        await broker.publish(stream, End("COMPLETE", 2))
        for inbox in (first, second):
            assert [await next_event(inbox) for _ in range(3)] == [Delta(0, "a"), Delta(1, "b"), End("COMPLETE", 2)]


async def test_replay_from_an_offset_and_the_end_beyond_it(broker: Broker) -> None:
    stream = str(uuid.uuid4())
    for index, text in enumerate("abcd"):
        await broker.publish(stream, Delta(index, text))
    assert await broker.replay(stream, 2) == [Delta(2, "c"), Delta(3, "d")]
    await broker.publish(stream, End("FAILED", 4))
    assert await broker.replay(stream, 0) == [*(Delta(i, t) for i, t in enumerate("abcd")), End("FAILED", 4)]
    assert await broker.replay(stream, 10) == [End("FAILED", 4)]
    assert await broker.replay(str(uuid.uuid4()), 0) == []


async def test_streams_do_not_cross(broker: Broker) -> None:
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    async with broker.subscribe(one) as inbox:
        await broker.publish(two, Delta(0, "other"))
        await broker.publish(one, Delta(0, "mine"))
        assert await next_event(inbox) == Delta(0, "mine")
        assert len(inbox) == 0


async def test_two_redis_brokers_are_two_instances() -> None:
    redis_a, redis_b = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    a, b = RedisBroker(redis_a), RedisBroker(redis_b)
    await a.start()
    await b.start()
    stream = str(uuid.uuid4())
    try:
        async with b.subscribe(stream) as inbox:
            await a.publish(stream, Delta(0, "from a"))
            assert await next_event(inbox) == Delta(0, "from a")
        assert await b.replay(stream, 0) == [Delta(0, "from a")]
    finally:
        await a.close()
        await b.close()
        await redis_a.aclose()
        await redis_b.aclose()


async def test_a_lagging_inbox_merges_consecutive_deltas() -> None:
    inbox = Inbox(max_pending=3)
    for index in range(10):
        inbox.put(Delta(index, str(index)))
    inbox.put(End("COMPLETE", 10))
    assert len(inbox) == 4
    drained = [await next_event(inbox) for _ in range(4)]
    assert drained == [Delta(0, "0"), Delta(1, "1"), Delta(2, "23456789", count=8), End("COMPLETE", 10)]


async def test_an_idle_inbox_says_so() -> None:
    inbox = Inbox()
    started = asyncio.get_running_loop().time()
    assert await inbox.get(idle_after=0.2) is None
    assert asyncio.get_running_loop().time() - started >= 0.19
    inbox.put(Delta(0, "x"))
    assert await inbox.get(idle_after=0.2) == Delta(0, "x")
