"""Open websockets by session, so a session that ends takes its sockets with it.

A websocket authenticates once, at ``connection_init``; without this a socket
opened before ``signOut`` or ``changePassword`` would keep streaming. A
revocation goes to every instance over the broker's control channel (the
instance that sent it receives it too), and each closes its own sockets of
that session. Expiry needs no message: each socket has a timer for the
session's ``expires_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.auth.service import Identity
from app.broker.base import Broker
from app.db import utcnow

logger = logging.getLogger(__name__)

# graphql-transport-ws uses 4403 for refused authentication; a session that ended is the same answer.
SESSION_ENDED_CODE = 4403
Close = Callable[[int, str], Awaitable[None]]


@dataclass(eq=False, slots=True)
class _Socket:
    identity: Identity
    close: Close
    expiry: asyncio.TimerHandle | None = field(default=None)


class LiveSockets:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._sockets: set[_Socket] = set()
        self._closing: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._broker.on_control(self._on_control)

    def attach(self, identity: Identity, close: Close) -> Callable[[], None]:
        """Track a socket until the returned callback detaches it."""
        socket = _Socket(identity, close)
        if identity.expires_at is not None:
            delay = max(0.0, (identity.expires_at - utcnow()).total_seconds())
            socket.expiry = asyncio.get_running_loop().call_later(delay, self._close, socket, "Session expired")
        self._sockets.add(socket)

        def detach() -> None:
            if socket.expiry is not None:
                socket.expiry.cancel()
            self._sockets.discard(socket)

        return detach

    async def session_revoked(self, session_id: uuid.UUID) -> None:
        await self._broker.send_control({"revoked_session": str(session_id)})

    async def other_sessions_revoked(self, user_id: uuid.UUID, keep_session_id: uuid.UUID) -> None:
        await self._broker.send_control({"revoked_user": str(user_id), "keep_session": str(keep_session_id)})

    def _on_control(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(KeyError, ValueError, TypeError):
            if "revoked_session" in message:
                session_id = uuid.UUID(message["revoked_session"])
                doomed = [s for s in self._sockets if s.identity.session_id == session_id]
            elif "revoked_user" in message:
                user_id, keep = uuid.UUID(message["revoked_user"]), uuid.UUID(message["keep_session"])
                doomed = [s for s in self._sockets if s.identity.user_id == user_id and s.identity.session_id != keep]
            else:
                return
            for socket in doomed:
                self._close(socket, "Session revoked")

    def _close(self, socket: _Socket, reason: str) -> None:
        self._sockets.discard(socket)
        task = asyncio.get_running_loop().create_task(self._close_quietly(socket, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_quietly(socket: _Socket, reason: str) -> None:
        try:
            await socket.close(SESSION_ENDED_CODE, reason)
        except Exception:  # the peer may be gone already
            logger.debug("closing a websocket failed", exc_info=True)
