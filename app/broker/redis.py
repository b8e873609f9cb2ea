"""Redis broker: one pub/sub connection per instance carries every channel.

Keys of one stream share the hash tag ``{m:<id>}`` so they live on one shard of
a Redis Cluster. A publish appends to the replay list and publishes in one
server-side script: one command per event, atomic, in order. Publishes of all
streams of this instance go out in pipelines from one flusher task, so one
round trip carries whatever accumulated meanwhile; while Redis is unreachable
they wait in the outbox and go out, still in order, when it returns, so the
replay buffers end up complete.

A reader task receives every channel this instance subscribed to and hands the
events to the local subscribers' inboxes. A channel is subscribed while at least
one local subscriber wants it, and a subscriber's context is entered only once
Redis confirmed the subscription, so nothing published after that is missed.
When the connection is lost the reader reconnects (redis-py re-subscribes every
channel) and tells each local subscriber to re-read the replay buffer for what
it may have missed meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import NoScriptError, RedisError

from app.broker.base import REPLAY_TTL_SECONDS, ControlHandler
from app.broker.events import BrokerEvent, Delta, Resync, decode, encode
from app.broker.inbox import Inbox

logger = logging.getLogger(__name__)
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
CONTROL_CHANNEL = "llm-aggregator:control"
MAX_OUTBOX = 200_000  # events held while Redis is down before the oldest are dropped
RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0)

RUNNING_TTL_SECONDS = 24 * 3600  # a stream that never ended (everything crashed) still expires

# KEYS: chunks list, end key. ARGV: channel, payload, ttl after the end, kind ("delta" | "end"), running ttl.
_PUBLISH = """
if ARGV[4] == "end" then
  redis.call("SET", KEYS[2], ARGV[2], "EX", ARGV[3])
  redis.call("EXPIRE", KEYS[1], ARGV[3])
else
  redis.call("RPUSH", KEYS[1], ARGV[2])
  redis.call("EXPIRE", KEYS[1], ARGV[5])
end
return redis.call("PUBLISH", ARGV[1], ARGV[2])
"""
_PUBLISH_SHA = hashlib.sha1(_PUBLISH.encode()).hexdigest()  # noqa: S324 - how Redis names scripts


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
        self._outbox: deque[tuple[list[str | int], asyncio.Future[None] | None]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._control_handlers: list[ControlHandler] = []

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def close(self) -> None:
        for task in (self._reader, self._flusher):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        await self._pubsub.aclose()

    async def ping(self) -> None:
        await self._redis.ping()

    # --- publishing -------------------------------------------------------------------------------

    def publish_nowait(self, stream_id: str, event: BrokerEvent) -> None:
        self._enqueue(stream_id, event, None)

    async def publish(self, stream_id: str, event: BrokerEvent) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(stream_id, event, done)
        await done

    def _enqueue(self, stream_id: str, event: BrokerEvent, done: asyncio.Future[None] | None) -> None:
        payload = json.dumps(encode(event), separators=(",", ":"))
        kind = "delta" if isinstance(event, Delta) else "end"
        args: list[str | int] = [
            _chunks_key(stream_id),
            _end_key(stream_id),
            _channel(stream_id),
            payload,
            self._replay_ttl,
            kind,
            RUNNING_TTL_SECONDS,
        ]
        if len(self._outbox) >= MAX_OUTBOX:
            _, dropped = self._outbox.popleft()
            logger.error("redis broker: outbox full while Redis is unreachable; dropping the oldest event")
            if dropped is not None and not dropped.done():
                dropped.set_exception(ConnectionError("dropped while Redis was unreachable"))
        self._outbox.append((args, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="redis-broker-flusher")

    async def _flush(self) -> None:
        failures = 0
        try:
            while self._outbox:
                batch = list(self._outbox)
                try:
                    await self._send(batch)
                except NoScriptError:  # Redis restarted or was flushed: load the script, send again
                    with suppress(RedisError, OSError):
                        await self._redis.script_load(_PUBLISH)
                    continue
                except (RedisError, OSError) as error:
                    delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                    if failures == 0:
                        logger.warning("redis broker: publishing failed (%s); holding events", type(error).__name__)
                    failures += 1
                    await asyncio.sleep(delay)
                    continue
                if failures:
                    logger.warning("redis broker: publishing again after %d failed attempts", failures)
                    failures = 0
                for _ in batch:
                    _, done = self._outbox.popleft()
                    if done is not None and not done.done():
                        done.set_result(None)
        finally:
            self._flusher = None

    async def _send(self, batch: list[tuple[list[str | int], asyncio.Future[None] | None]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for args, _ in batch:
                pipe.evalsha(_PUBLISH_SHA, 2, *args)
            await pipe.execute()

    async def replay(self, stream_id: str, start: int) -> list[BrokerEvent]:
        key = _chunks_key(stream_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lindex(key, 0)
            pipe.lrange(key, start, -1)
            pipe.get(_end_key(stream_id))
            first, chunks, end = await pipe.execute()
        head = decode(json.loads(first)) if first is not None else None
        if isinstance(head, Delta) and head.index != 0:
            # The list lost its head (Redis restarted mid-stream): positions are not chunk numbers.
            chunks = await self._redis.lrange(key, max(start - head.index, 0), -1)
        events: list[BrokerEvent] = [
            event for event in map(decode, map(json.loads, chunks)) if isinstance(event, Delta) and event.index >= start
        ]
        if end is not None:
            events.append(decode(json.loads(end)))
        return events

    # --- control ----------------------------------------------------------------------------------

    async def send_control(self, message: dict[str, Any]) -> None:
        await self._redis.publish(CONTROL_CHANNEL, json.dumps(message))

    def on_control(self, handler: ControlHandler) -> None:
        self._control_handlers.append(handler)

    # --- subscribing ------------------------------------------------------------------------------

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
                try:
                    await self._pubsub.subscribe(channel)
                except (RedisError, OSError):
                    # Redis is down: the reader re-subscribes every channel when it reconnects.
                    logger.warning("redis broker: subscribing failed; waiting for Redis")
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await confirmed.wait()
        except TimeoutError:
            # Not confirmed yet (Redis down): the subscriber still gets everything once it is back,
            # through the replay it reads after a Resync.
            logger.warning("redis broker: subscription not confirmed within %ss", SUBSCRIBE_TIMEOUT_SECONDS)

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
        failures = 0
        subscribed = False
        while True:
            try:
                if not subscribed or failures:
                    # (Re)subscribe everything wanted: redis-py restores what it had confirmed, but a
                    # SUBSCRIBE that failed while Redis was down is not among those. Under the lock:
                    # two SUBSCRIBEs racing on a fresh PubSub would each open a connection.
                    async with self._lock:
                        await self._pubsub.subscribe(CONTROL_CHANNEL, *self._subscribers)
                    subscribed = True
                message = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, RuntimeError) as error:  # RuntimeError: redis-py has no connection yet
                if failures == 0:
                    logger.warning("redis broker: pub/sub connection lost (%s); reconnecting", type(error).__name__)
                failures += 1
                await asyncio.sleep(RETRY_DELAYS[min(failures - 1, len(RETRY_DELAYS) - 1)])
                continue
            if failures:
                logger.warning("redis broker: pub/sub connection back after %d attempts", failures)
                failures = 0
                # Live events may have gone by while the connection was down: every local subscriber
                # re-reads its stream's replay buffer from where it is.
                for inboxes in self._subscribers.values():
                    for inbox in inboxes:
                        inbox.put(Resync())
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        raw_channel = message["channel"]
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        if message["type"] == "subscribe":
            confirmed = self._confirmed.get(channel)
            if confirmed is not None:
                confirmed.set()
        elif message["type"] == "message":
            data = json.loads(message["data"])
            if channel == CONTROL_CHANNEL:
                for handler in self._control_handlers:
                    handler(data)
                return
            event = decode(data)
            for inbox in self._subscribers.get(channel, ()):
                inbox.put(event)
