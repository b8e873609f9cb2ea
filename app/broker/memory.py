"""In-process broker for the embedded default: one process, so fan-out is a loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from app.broker.base import REPLAY_TTL_SECONDS, ControlHandler
from app.broker.events import BrokerEvent, Delta, End
from app.broker.inbox import Inbox


@dataclass(slots=True)
class _Stream:
    deltas: list[Delta] = field(default_factory=list)
    end: End | None = None
    subscribers: set[Inbox] = field(default_factory=set)
    expiry: asyncio.TimerHandle | None = None


class MemoryBroker:
    def __init__(self, replay_ttl: float = REPLAY_TTL_SECONDS) -> None:
        self._streams: dict[str, _Stream] = {}
        self._replay_ttl = replay_ttl
        self._control_handlers: list[ControlHandler] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for stream in self._streams.values():
            if stream.expiry is not None:
                stream.expiry.cancel()
        self._streams.clear()

    async def ping(self) -> None:
        return None

    def _stream(self, stream_id: str) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = self._streams[stream_id] = _Stream()
        return stream

    def publish_nowait(self, stream_id: str, event: BrokerEvent) -> None:
        stream = self._stream(stream_id)
        if isinstance(event, Delta):
            stream.deltas.append(event)
        else:
            stream.end = event
            # Only ended streams expire: a running one is always replayable.
            if stream.expiry is not None:
                stream.expiry.cancel()
            stream.expiry = asyncio.get_running_loop().call_later(self._replay_ttl, self._expire, stream_id)
        for inbox in stream.subscribers:
            inbox.put(event)

    async def publish(self, stream_id: str, event: BrokerEvent) -> None:
        self.publish_nowait(stream_id, event)

    def _expire(self, stream_id: str) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.subscribers:
            del self._streams[stream_id]

    async def replay(self, stream_id: str, start: int) -> list[BrokerEvent]:
        stream = self._streams.get(stream_id)
        if stream is None:
            return []
        events: list[BrokerEvent] = list(stream.deltas[start:])
        if stream.end is not None:
            events.append(stream.end)
        return events

    @asynccontextmanager
    async def subscribe(self, stream_id: str) -> AsyncIterator[Inbox]:
        stream = self._stream(stream_id)
        inbox = Inbox()
        stream.subscribers.add(inbox)
        try:
            yield inbox
        finally:
            stream.subscribers.discard(inbox)
            if not stream.deltas and stream.end is None and not stream.subscribers:
                self._streams.pop(stream_id, None)

    async def send_control(self, message: dict[str, Any]) -> None:
        for handler in self._control_handlers:
            handler(message)

    def on_control(self, handler: ControlHandler) -> None:
        self._control_handlers.append(handler)
