"""Redis broker: one pub/sub connection per instance carries every channel.

Keys of one stream share the hash tag ``{m:<id>}`` so they live on one shard of
a Redis Cluster. ``publish`` appends to the replay list and publishes in one
server-side script: one command per delta, atomic, and in order. A reader task per
instance receives every channel this instance
subscribed to and hands events to the local subscribers' inboxes; a channel is
subscribed while at least one local subscriber wants it, and a subscriber's
context is entered only once Redis has confirmed the subscription, so nothing
published after that point can be missed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import NoScriptError, RedisError

from app.broker.base import REPLAY_TTL_SECONDS
from app.broker.events import BrokerEvent, Delta, decode, encode
from app.broker.inbox import Inbox

logger = logging.getLogger(__name__)
SUBSCRIBE_TIMEOUT_SECONDS = 5.0

# KEYS: chunks list, end key. ARGV: channel, payload, ttl, kind ("delta" | "first" | "end").
_PUBLISH = """
if ARGV[4] == "end" then
  redis.call("SET", KEYS[2], ARGV[2], "EX", ARGV[3])
  redis.call("EXPIRE", KEYS[1], ARGV[3])
else
  redis.call("RPUSH", KEYS[1], ARGV[2])
  if ARGV[4] == "first" then redis.call("EXPIRE", KEYS[1], ARGV[3]) end
end
return redis.call("PUBLISH", ARGV[1], ARGV[2])
"""


def _chunks_key(stream_id: str) -> str:
    return f"{{m:{stream_id}}}:chunks"


def _end_key(stream_id: str) -> str:
    return f"{{m:{stream_id}}}:end"


def _channel(stream_id: str) -> str:
    return f"{{m:{stream_id}}}:events"


class RedisBroker:
    def __init__(self, redis: Redis, replay_ttl: int = REPLAY_TTL_SECONDS) -> None:
        self._redis = redis
        self._replay_ttl = replay_ttl
        self._pubsub: PubSub = redis.pubsub()
        self._reader: asyncio.Task[None] | None = None
        self._subscribers: dict[str, set[Inbox]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._publish_sha = hashlib.sha1(_PUBLISH.encode()).hexdigest()  # noqa: S324 - how Redis names scripts
        # Publishes of every stream of this instance, sent in pipelines by one flusher task: one
        # round trip carries whatever accumulated meanwhile, and order is kept per stream.
        self._outbox: list[tuple[list[str], list[str | int], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()  # the pub/sub connection exists once something subscribed

    async def start(self) -> None:
        try:
            await self._redis.script_load(_PUBLISH)
        except (RedisError, OSError):
            # Redis may be down while we start (readyz says so); the first publish loads the script.
            logger.warning("redis broker: Redis is not reachable at start-up")
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()

    async def ping(self) -> None:
        await self._redis.ping()

    async def publish(self, stream_id: str, event: BrokerEvent) -> None:
        payload = json.dumps(encode(event), separators=(",", ":"))
        kind = ("first" if event.index == 0 else "delta") if isinstance(event, Delta) else "end"
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = [_chunks_key(stream_id), _end_key(stream_id)]
        self._outbox.append((keys, [_channel(stream_id), payload, self._replay_ttl, kind], done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="redis-broker-flusher")
        await done

    async def _flush(self) -> None:
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                try:
                    await self._send(batch)
                except NoScriptError:  # Redis restarted or was flushed since start(): load and resend
                    await self._redis.script_load(_PUBLISH)
                    self._outbox[:0] = batch
                    continue
                except (RedisError, OSError) as error:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                    continue
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._flusher = None

    async def _send(self, batch: list[tuple[list[str], list[str | int], asyncio.Future[None]]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(self._publish_sha, len(keys), *keys, *args)
            await pipe.execute()

    async def replay(self, stream_id: str, start: int) -> list[BrokerEvent]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(_chunks_key(stream_id), start, -1)
            pipe.get(_end_key(stream_id))
            chunks, end = await pipe.execute()
        events = [decode(json.loads(raw)) for raw in chunks]
        if end is not None:
            events.append(decode(json.loads(end)))
        return events

    @asynccontextmanager
    async def subscribe(self, stream_id: str) -> AsyncIterator[Inbox]:
        channel = _channel(stream_id)
        inbox = Inbox()
        await self._join(channel, inbox)
        try:
            yield inbox
        finally:
            await self._leave(channel, inbox)

    async def _join(self, channel: str, inbox: Inbox) -> None:
        async with self._lock:
            subscribers = self._subscribers.setdefault(channel, set())
            subscribers.add(inbox)
            if len(subscribers) > 1:
                confirmed = self._confirmed[channel]
            else:
                confirmed = self._confirmed[channel] = asyncio.Event()
                await self._pubsub.subscribe(channel)
                self._connected.set()
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await confirmed.wait()
        except TimeoutError:
            await self._leave(channel, inbox)
            raise

    async def _leave(self, channel: str, inbox: Inbox) -> None:
        async with self._lock:
            subscribers = self._subscribers.get(channel)
            if subscribers is None:
                return
            subscribers.discard(inbox)
            if not subscribers:
                del self._subscribers[channel]
                self._confirmed.pop(channel, None)
                with suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        await self._connected.wait()
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                logger.warning("redis broker: pub/sub read failed (%s); retrying", type(error).__name__)
                await asyncio.sleep(0.5)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        if message["type"] == "subscribe":
            confirmed = self._confirmed.get(channel)
            if confirmed is not None:
                confirmed.set()
        elif message["type"] == "message":
            event = decode(json.loads(message["data"]))
            for inbox in self._subscribers.get(channel, ()):
                inbox.put(event)
