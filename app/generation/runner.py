"""Runs generations: provider stream -> numbered deltas on the broker -> one final database write.

State machine of an assistant message: PENDING (stored by sendMessage, with this
instance's lease) -> STREAMING (the provider call started) -> COMPLETE | FAILED |
CANCELLED | INTERRUPTED. The database is written when streaming starts, at
checkpoints every few seconds (partial content), and once at the end; never per
token. The End event is published only after the final commit, so a subscriber
that sees it reads the final row.

Failures before the first token are retried (429 twice, honouring Retry-After;
5xx, connection errors, timeouts and stalls with exponential backoff); after it,
nothing is retried, since the provider would bill the answer twice: the message
ends FAILED with its partial content. A provider silent for the stall timeout
fails the same way.

Each running generation holds a lease (instance id + expiry) that a heartbeat
renews; a sweeper on every instance turns unfinished answers with an expired
lease, whose instance died, into INTERRUPTED with their last checkpoint, and
tells their subscribers. A lease still renewed is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app.broker.base import Broker
from app.broker.events import Delta, End
from app.chats import service as chats_service
from app.chats.models import MessageStatus
from app.chats.service import Lease
from app.config import Settings
from app.db import Database, utcnow
from app.errors import NotFound
from app.keys import service as keys_service
from app.keys.service import Vault
from app.providers.base import (
    ChatRequest,
    FailureKind,
    FilePart,
    Provider,
    ProviderFailure,
    TextChunk,
    Turn,
    UsageReport,
)
from app.providers.factory import build_provider
from app.providers.http import ProviderHttp
from app.storage.base import Storage
from app.storage.files import TEXT_TYPES

logger = logging.getLogger(__name__)
CHECKPOINT_SECONDS = 3.0
RATE_LIMIT_RETRIES = 2
LONGEST_RETRY_AFTER = 60.0
INTERNAL_FAILURE = "The answer could not be generated because of an internal error."


class _KeyGone(Exception):
    message = "The API key this answer was to use no longer exists: add one with setApiKey."


@dataclass(slots=True)
class _Progress:
    parts: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None


class Generations:
    def __init__(
        self, *, db: Database, broker: Broker, vault: Vault, settings: Settings, http: ProviderHttp, storage: Storage
    ) -> None:
        self._db = db
        self._broker = broker
        self._vault = vault
        self._settings = settings
        self._http = http
        self._storage = storage
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._stop_requested: set[uuid.UUID] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self.instance_id = f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lease_seconds = settings.generation_lease_seconds

    # --- life cycle -------------------------------------------------------------------------------

    async def start_background(self, *, sole_instance: bool) -> None:
        """Sweep orphans now, then keep renewing our leases and sweeping others' expired ones."""
        self._broker.on_control(self._on_control)
        await self._sweep(everything=sole_instance)
        self._maintenance = asyncio.create_task(self._maintain(), name="generation-leases")

    async def shutdown(self, grace: float) -> None:
        """Let running generations finish for up to ``grace`` seconds, then interrupt the rest
        (each records INTERRUPTED with its content so far)."""
        tasks = list(self._tasks.values())
        if tasks:
            logger.info("waiting up to %ss for %d running generation(s)", grace, len(tasks))
            await asyncio.wait(tasks, timeout=grace)
        remaining = list(self._tasks.values())
        for task in remaining:
            task.cancel()
        await asyncio.gather(*remaining, return_exceptions=True)
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance

    def lease(self) -> Lease:
        return Lease(owner=self.instance_id, expires_at=utcnow() + timedelta(seconds=self._lease_seconds))

    def start(self, message_id: uuid.UUID) -> None:
        task = asyncio.create_task(self._run(message_id), name=f"generation-{message_id}")
        self._tasks[message_id] = task
        task.add_done_callback(lambda _: self._forget(message_id))

    def _forget(self, message_id: uuid.UUID) -> None:
        self._tasks.pop(message_id, None)
        self._stop_requested.discard(message_id)

    # --- stopping ---------------------------------------------------------------------------------

    async def request_stop(self, message_id: uuid.UUID) -> None:
        """Stop a generation on whichever instance runs it."""
        if not self._stop_locally(message_id):
            await self._broker.send_control({"stop": str(message_id)})

    def _stop_locally(self, message_id: uuid.UUID) -> bool:
        task = self._tasks.get(message_id)
        if task is None:
            return False
        self._stop_requested.add(message_id)
        task.cancel()  # closes the upstream HTTP stream: the provider stops generating (and billing)
        return True

    def _on_control(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(KeyError, ValueError, TypeError):
            self._stop_locally(uuid.UUID(message["stop"]))

    # --- one generation ---------------------------------------------------------------------------

    async def _run(self, message_id: uuid.UUID) -> None:
        progress = _Progress()
        try:
            async with self._db.transaction() as session:
                message = await chats_service.get_message_for_generation(session, message_id)
                if message is None or message.status is not MessageStatus.PENDING:
                    return
                conversation = await chats_service.conversation_for(session, message)
                if message.api_key_id is None or message.provider is None or not message.model:
                    raise _KeyGone
                try:
                    credentials = await keys_service.reveal_credentials(
                        session, self._vault, owner_id=message.owner_id, key_id=message.api_key_id
                    )
                except NotFound:
                    raise _KeyGone from None
                await keys_service.mark_api_key_used(session, message.api_key_id)
                await chats_service.mark_streaming(session, message_id)
            request = ChatRequest(
                model=message.model,
                turns=[await self._with_file_contents(turn) for turn in conversation.turns],
                system_prompt=conversation.system_prompt,
                temperature=message.temperature,
                max_tokens=message.max_tokens,
            )
            provider = build_provider(
                self._settings,
                self._http,
                message.provider,
                api_key=credentials.secret,
                base_url=credentials.base_url,
            )
            try:
                await self._stream_with_retries(message_id, provider, request, progress)
            finally:
                await provider.aclose()
        except ProviderFailure as failure:
            await self._finish(
                message_id, progress, MessageStatus.FAILED, error=failure.message, error_code="PROVIDER_ERROR"
            )
        except _KeyGone:
            await self._finish(
                message_id, progress, MessageStatus.FAILED, error=_KeyGone.message, error_code="BAD_USER_INPUT"
            )
        except keys_service.VaultLocked as locked:  # locked between sendMessage and now
            await self._finish(message_id, progress, MessageStatus.FAILED, error=locked.message, error_code=locked.code)
        except asyncio.CancelledError:
            if message_id in self._stop_requested:
                await asyncio.shield(self._finish(message_id, progress, MessageStatus.CANCELLED))
                return  # a requested stop is an ending, not a cancelled task
            await asyncio.shield(
                self._finish(
                    message_id,
                    progress,
                    MessageStatus.INTERRUPTED,
                    error=chats_service.INTERRUPTED_ERROR,
                    error_code="INTERRUPTED",
                )
            )
            raise
        except Exception:
            logger.exception("generation %s failed unexpectedly", message_id)
            await self._finish(
                message_id, progress, MessageStatus.FAILED, error=INTERNAL_FAILURE, error_code="INTERNAL_SERVER_ERROR"
            )
        else:
            await self._finish(message_id, progress, MessageStatus.COMPLETE)

    async def _with_file_contents(self, turn: chats_service.ConversationTurn) -> Turn:
        """A provider turn: text files inlined into the text, images and PDFs as native parts."""
        text, parts = turn.text, []
        for file in turn.files:
            data = await self._storage.get(file.storage_key)
            if file.content_type in TEXT_TYPES:
                text += f"\n\n--- {file.filename} ---\n{data.decode('utf-8', errors='replace')}"
            else:
                parts.append(FilePart(content_type=file.content_type, filename=file.filename, data=data))
        return Turn(turn.role, text, tuple(parts))

    async def _stream_with_retries(
        self, message_id: uuid.UUID, provider: Provider, request: ChatRequest, progress: _Progress
    ) -> None:
        attempt = rate_limited = 0
        while True:
            try:
                await self._stream(message_id, provider, request, progress)
                return
            except ProviderFailure as failure:
                if progress.parts or not failure.retryable:
                    raise
                if failure.kind is FailureKind.RATE_LIMITED:
                    if rate_limited >= RATE_LIMIT_RETRIES:
                        raise
                    rate_limited += 1
                    delay = failure.retry_after if failure.retry_after is not None else self._backoff(attempt)
                    if delay > LONGEST_RETRY_AFTER:
                        raise
                else:
                    delay = self._backoff(attempt)
                    if delay > self._settings.retry_max_delay_seconds:
                        raise
                attempt += 1
                logger.info("generation %s: %s; attempt %d in %.1fs", message_id, failure.kind.name, attempt + 1, delay)
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """0.5 s, 1 s, 2 s, 4 s, 8 s (by default), with a little jitter so retries do not align."""
        delay: float = self._settings.retry_base_delay_seconds * 2**attempt
        return delay * random.uniform(0.9, 1.0)  # noqa: S311 - jitter, not security

    async def _stream(
        self, message_id: uuid.UUID, provider: Provider, request: ChatRequest, progress: _Progress
    ) -> None:
        stream_id = str(message_id)
        stall = self._settings.stall_timeout_seconds
        loop = asyncio.get_running_loop()
        last_checkpoint = last_rearm = time.monotonic()
        try:
            async with asyncio.timeout(stall) as guard:
                async for item in provider.stream_chat(request):
                    now = time.monotonic()
                    if now - last_rearm > 1.0:  # re-arming on every token would cost more than it buys
                        guard.reschedule(loop.time() + stall)
                        last_rearm = now
                    if isinstance(item, TextChunk):
                        self._broker.publish_nowait(stream_id, Delta(len(progress.parts), item.text))
                        progress.parts.append(item.text)
                        if now - last_checkpoint >= CHECKPOINT_SECONDS:
                            last_checkpoint = now
                            async with self._db.transaction() as session:
                                await chats_service.checkpoint(session, message_id, chunks=progress.parts)
                    elif isinstance(item, UsageReport):
                        progress.input_tokens, progress.output_tokens = item.input_tokens, item.output_tokens
        except TimeoutError:
            raise ProviderFailure(FailureKind.STALLED) from None

    async def _finish(
        self,
        message_id: uuid.UUID,
        progress: _Progress,
        status: MessageStatus,
        *,
        error: str | None = None,
        error_code: str | None = None,
    ) -> None:
        try:
            async with self._db.transaction() as session:
                owned = await chats_service.finish_message(
                    session,
                    message_id,
                    lease_owner=self.instance_id,
                    status=status,
                    chunks=progress.parts,
                    input_tokens=progress.input_tokens,
                    output_tokens=progress.output_tokens,
                    error=error,
                    error_code=error_code,
                )
        except Exception:
            logger.exception("generation %s: the final state could not be stored", message_id)
            return
        if not owned:
            # Another instance's sweeper already ended it (this one missed its heartbeats).
            logger.warning("generation %s: ended elsewhere meanwhile; keeping that ending", message_id)
            return
        self._broker.publish_nowait(str(message_id), End(status=status.value, chunk_count=len(progress.parts)))

    # --- leases -----------------------------------------------------------------------------------

    async def _maintain(self) -> None:
        interval = max(self._lease_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._db.transaction() as session:
                    await chats_service.renew_leases(
                        session,
                        owner=self.instance_id,
                        message_ids=list(self._tasks),
                        until=utcnow() + timedelta(seconds=self._lease_seconds),
                    )
                await self._sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("generation leases: renewal or sweep failed", exc_info=True)

    async def _sweep(self, *, everything: bool = False) -> None:
        async with self._db.transaction() as session:
            orphans = await chats_service.interrupt_orphans(session, now=utcnow(), everything=everything)
        for orphan in orphans:
            logger.warning("generation %s: its instance is gone; marked INTERRUPTED", orphan.id)
            chunk_count = await self._recover_streamed(orphan.id, orphan.chunk_count)
            self._broker.publish_nowait(
                str(orphan.id), End(status=MessageStatus.INTERRUPTED.value, chunk_count=chunk_count)
            )

    async def _recover_streamed(self, message_id: uuid.UUID, checkpointed: int) -> int:
        """Subscribers may hold chunks newer than the last checkpoint: when the replay buffer has them,
        they become the stored content, so the stream and the message still agree."""
        try:
            deltas = [e for e in await self._broker.replay(str(message_id), 0) if isinstance(e, Delta)]
        except Exception:  # the broker may be what failed; the checkpoint stands
            logger.warning("generation %s: replay buffer unavailable for recovery", message_id, exc_info=True)
            return checkpointed
        contiguous = all(delta.index == position for position, delta in enumerate(deltas))
        if len(deltas) <= checkpointed or not contiguous:
            return checkpointed
        async with self._db.transaction() as session:
            await chats_service.checkpoint(session, message_id, chunks=[delta.text for delta in deltas])
        return len(deltas)
