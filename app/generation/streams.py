"""Following a message's stream: subscribe, replay from an offset, go live, end exactly once.

The subscription is opened before the replay is read, so every chunk is either
in the replay or arrives live; chunks seen twice are dropped by index. Any hole
(a chunk number skipped, a merged delta overlapping what was already sent, a
broker reconnection) is filled by number from the replay buffer, and what that
no longer holds (Redis restarted, or is down) from the chunks the database
checkpointed. When the broker stays silent the database is asked whether the
message ended anyway.

Deltas are sent one by one while the subscriber keeps up. Whatever piled up
meanwhile (a late join's backlog, a burst while the client or the server was
busy) goes out merged into one delta, so a lagging subscriber catches up with
fewer, larger messages instead of falling further behind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from app.broker.base import Broker
from app.broker.events import BrokerEvent, Delta, End, InboxEvent, Resync, merge_deltas
from app.chats import service as chats_service
from app.chats.models import Message
from app.db import Database
from app.errors import BadUserInput

logger = logging.getLogger(__name__)
IDLE_RECHECK_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Final:
    message: Message


StreamOutput = Delta | Final
Refill = Callable[[int], Awaitable[list[BrokerEvent]]]


async def follow(
    db: Database, broker: Broker, *, owner_id: uuid.UUID, message_id: uuid.UUID, offset: int
) -> AsyncIterator[StreamOutput]:
    if offset < 0:
        raise BadUserInput("offset must be 0 or more.", field="offset")

    async def load() -> Message:
        async with db.read() as session:
            return await chats_service.get_message(session, owner_id=owner_id, message_id=message_id)

    message = await load()  # NOT_FOUND for another user's message
    if message.status.is_final:
        yield Final(message)
        return
    stream_id = str(message_id)

    async def refill(start: int, known: Message | None = None) -> list[BrokerEvent]:
        """Chunks from ``start`` on: the replay buffer first, the database's checkpoint for a gap
        (``known``: a row just read, so the first refill does not read it again)."""
        try:
            events = await broker.replay(stream_id, start)
        except Exception:
            logger.warning("stream %s: replay buffer unavailable; using the database", stream_id)
            events = []
        first = events[0] if events else None
        if not isinstance(first, Delta) or first.index != start:
            stored = chats_service.stored_chunks(known or await load(), start)
            if stored is not None:
                events.insert(0, Delta(start, stored[0], count=stored[1]))
        return events

    async with broker.subscribe(stream_id) as inbox:
        cursor = _Cursor(offset)
        # A checkpoint written since `message` was read leaves a hole, which the cursor refills later.
        for delta in merge_deltas(await cursor.take(await refill(offset, message), refill)):
            yield delta
        while not cursor.done:
            event = await inbox.get(idle_after=IDLE_RECHECK_SECONDS)
            if event is None:
                # Silence: an end we did not hear, or chunks that went by while we were cut off?
                deltas = await cursor.take(await refill(cursor.next_index), refill)
                if not cursor.done and (await load()).status.is_final:
                    cursor.finish_from_database()
            else:
                deltas = await cursor.take([event, *inbox.drain()], refill)
            for delta in merge_deltas(deltas):
                yield delta
    yield Final(await load())


class _Cursor:
    """Where a subscriber is: the next chunk it needs, and whether the stream's end is reached."""

    def __init__(self, next_index: int) -> None:
        self.next_index = next_index
        self.end: End | None = None
        self._ended_in_database = False

    @property
    def done(self) -> bool:
        return self._ended_in_database or (self.end is not None and self.next_index >= self.end.chunk_count)

    async def take(self, events: Iterable[InboxEvent], refill: Refill) -> list[Delta]:
        """The new deltas among ``events`` in order; a hole (or a Resync) is refilled by number."""
        accepted: list[Delta] = []
        for event in events:
            if not self._accept(event, accepted):
                for refilled in await refill(self.next_index):
                    self._accept(refilled, accepted)
                break
        return accepted

    def _accept(self, event: InboxEvent, accepted: list[Delta]) -> bool:
        """False when the event shows a hole before it (or asks for a re-read)."""
        if isinstance(event, Resync):
            return False
        if isinstance(event, End):
            self.end = event
            return self.next_index >= event.chunk_count
        if event.end_index <= self.next_index:
            return True  # already delivered
        if event.index > self.next_index:
            return False  # a hole before it
        if event.index < self.next_index:
            return False  # a merged delta overlapping what was sent: re-read by number
        self.next_index = event.end_index
        accepted.append(event)
        return True

    def finish_from_database(self) -> None:
        # The message ended but its last chunks are nowhere to replay; the final event carries them.
        self._ended_in_database = True
