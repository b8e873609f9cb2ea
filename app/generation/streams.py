"""Following a message's stream: subscribe, replay from an offset, go live, end exactly once.

The subscription is opened before the replay is read, so every chunk is either
in the replay or arrives live; chunks seen twice are dropped by index. Any hole
(a chunk number skipped, a merged delta that overlaps what was already sent)
is filled from the replay buffer, which holds every chunk exactly. When the
broker stays silent the database is asked whether the message ended anyway.

Deltas are sent one by one while the subscriber keeps up. Whatever piled up
meanwhile (a late join's backlog, a burst while the client or the server was
busy) goes out merged into one delta, so a lagging subscriber catches up with
fewer, larger messages instead of falling further behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from app.broker.base import Broker
from app.broker.events import Delta, End, InboxEvent, Resync, merge_deltas
from app.chats import service as chats_service
from app.chats.models import Message
from app.db import Database
from app.errors import BadUserInput

IDLE_RECHECK_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Final:
    message: Message


StreamOutput = Delta | Final


async def _load(db: Database, owner_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    async with db.read() as session:
        return await chats_service.get_message(session, owner_id=owner_id, message_id=message_id)


async def follow(
    db: Database, broker: Broker, *, owner_id: uuid.UUID, message_id: uuid.UUID, offset: int
) -> AsyncIterator[StreamOutput]:
    if offset < 0:
        raise BadUserInput("offset must be 0 or more.", field="offset")
    message = await _load(db, owner_id, message_id)  # NOT_FOUND for another user's message
    if message.status.is_final:
        yield Final(message)
        return
    stream_id = str(message_id)
    async with broker.subscribe(stream_id) as inbox:
        cursor = _Cursor(offset)
        for delta in merge_deltas(await cursor.take(await broker.replay(stream_id, offset), broker, stream_id)):
            yield delta
        while not cursor.done:
            event = await inbox.get(idle_after=IDLE_RECHECK_SECONDS)
            if event is None:
                deltas = await _recheck(db, broker, cursor, owner_id=owner_id, message_id=message_id)
            else:
                deltas = await cursor.take([event, *inbox.drain()], broker, stream_id)
            for delta in merge_deltas(deltas):
                yield delta
    yield Final(await _load(db, owner_id, message_id))


async def _recheck(
    db: Database, broker: Broker, cursor: _Cursor, *, owner_id: uuid.UUID, message_id: uuid.UUID
) -> list[Delta]:
    """Silence: look in the replay buffer, then the database, for an end we did not hear."""
    stream_id = str(message_id)
    deltas = await cursor.take(await broker.replay(stream_id, cursor.next_index), broker, stream_id)
    if not cursor.done:
        message = await _load(db, owner_id, message_id)
        if message.status.is_final:
            cursor.finish_from_database()
    return deltas


class _Cursor:
    """Where a subscriber is: the next chunk it needs, and whether the stream's end is reached."""

    def __init__(self, next_index: int) -> None:
        self.next_index = next_index
        self.end: End | None = None
        self._ended_in_database = False

    @property
    def done(self) -> bool:
        return self._ended_in_database or (self.end is not None and self.next_index >= self.end.chunk_count)

    async def take(self, events: Iterable[InboxEvent], broker: Broker, stream_id: str) -> list[Delta]:
        """The new deltas among ``events`` in order; a hole (or a Resync) is filled from the replay buffer."""
        accepted: list[Delta] = []
        for event in events:
            if not self._accept(event, accepted):
                for replayed in await broker.replay(stream_id, self.next_index):
                    self._accept(replayed, accepted)
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
        if event.index != self.next_index:
            return False  # a hole, or a merged delta overlapping what was sent
        self.next_index = event.end_index
        accepted.append(event)
        return True

    def finish_from_database(self) -> None:
        # The buffer expired or never reached us; the final event carries the whole content.
        self._ended_in_database = True
