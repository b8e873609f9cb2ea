"""A subscriber's bounded queue: when it lags, consecutive deltas merge instead of piling up."""

from __future__ import annotations

import asyncio
from collections import deque

from app.broker.events import Delta, InboxEvent

DEFAULT_MAX_PENDING = 64


class Inbox:
    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._pending: deque[InboxEvent] = deque()
        self._ready = asyncio.Event()
        self._max_pending = max_pending
        self._idle = False

    def put(self, event: InboxEvent) -> None:
        """Never blocks the publisher: a full inbox merges the new delta into the last one."""
        last = self._pending[-1] if self._pending else None
        if (
            len(self._pending) >= self._max_pending
            and isinstance(event, Delta)
            and isinstance(last, Delta)
            and last.end_index == event.index
        ):
            self._pending[-1] = Delta(last.index, last.text + event.text, last.count + event.count)
        else:
            self._pending.append(event)
        self._ready.set()

    async def get(self, idle_after: float | None = None) -> InboxEvent | None:
        """The next event; None once nothing has arrived for about ``idle_after`` seconds.

        One watchdog timer per wait for silence, not per event: a busy stream pays nothing for it.
        """
        if self._pending:
            return self._pending.popleft()
        watchdog = asyncio.get_running_loop().call_later(idle_after, self._check_idle) if idle_after else None
        try:
            while not self._pending:
                self._ready.clear()
                await self._ready.wait()
                if self._idle and not self._pending:
                    self._idle = False
                    return None
        finally:
            if watchdog is not None:
                watchdog.cancel()
        return self._pending.popleft()

    def drain(self) -> list[InboxEvent]:
        """Everything already waiting, without waiting for more."""
        events = list(self._pending)
        self._pending.clear()
        return events

    def _check_idle(self) -> None:
        self._idle = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._pending)
