"""The broker protocol: per-message channels of numbered deltas, with a replay buffer.

Every stream (one assistant message) has one writer, the generation, which
numbers its chunks 0, 1, 2, … . ``publish`` appends an event to the stream's
replay buffer and fans it out to every subscriber on every instance; the
buffer outlives the stream by a TTL so late and reconnecting subscribers can
fill what they missed. The end of a stream is an ``End`` event, kept beside
the buffer so a replay from any offset still finds it.

Control messages (stop this generation) go to every instance.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from app.broker.events import BrokerEvent
from app.broker.inbox import Inbox

REPLAY_TTL_SECONDS = 3600

ControlHandler = Callable[[dict[str, Any]], None]


class Broker(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def publish_nowait(self, stream_id: str, event: BrokerEvent) -> None:
        """Queue an event; never blocks and never raises. Events of one stream keep their order,
        and events queued while the broker is unreachable are delivered when it returns."""
        ...

    async def publish(self, stream_id: str, event: BrokerEvent) -> None:
        """Like publish_nowait, then wait until the event is delivered."""
        ...

    async def replay(self, stream_id: str, start: int) -> list[BrokerEvent]:
        """Buffered deltas from chunk ``start`` on, then the End event if the stream has ended."""
        ...

    def subscribe(self, stream_id: str) -> AbstractAsyncContextManager[Inbox]:
        """Live events of a stream; the subscription is active when the context is entered."""
        ...

    async def send_control(self, message: dict[str, Any]) -> None: ...

    def on_control(self, handler: ControlHandler) -> None: ...

    async def ping(self) -> None: ...
