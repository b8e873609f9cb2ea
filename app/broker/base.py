"""The broker protocol: per-message channels of numbered deltas, with a replay buffer.

Every stream (one assistant message) has one writer, the generation, which
numbers its chunks 0, 1, 2, … . ``publish`` appends an event to the stream's
replay buffer and fans it out to every subscriber on every instance; the
buffer outlives the stream by a TTL so late and reconnecting subscribers can
fill what they missed. The end of a stream is an ``End`` event, kept beside
the buffer so a replay from any offset still finds it.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from app.broker.events import BrokerEvent
from app.broker.inbox import Inbox

REPLAY_TTL_SECONDS = 3600


class Broker(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, stream_id: str, event: BrokerEvent) -> None: ...

    async def replay(self, stream_id: str, start: int) -> list[BrokerEvent]:
        """Buffered deltas from chunk ``start`` on, then the End event if the stream has ended."""
        ...

    def subscribe(self, stream_id: str) -> AbstractAsyncContextManager[Inbox]:
        """Live events of a stream; the subscription is active when the context is entered."""
        ...

    async def ping(self) -> None: ...
