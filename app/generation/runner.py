"""Runs generations: provider stream -> numbered deltas on the broker -> one final database write.

State machine of an assistant message: PENDING (stored by sendMessage) ->
STREAMING (the provider call started) -> COMPLETE | FAILED | INTERRUPTED.
The database is written when streaming starts, at checkpoints every few
seconds (partial content), and once at the end; never per token. The End event
is published only after the final commit, so a subscriber that sees it reads
the final row.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

from app.broker.base import Broker
from app.broker.events import BrokerEvent, Delta, End
from app.chats import service as chats_service
from app.chats.models import MessageStatus
from app.config import Settings
from app.db import Database
from app.keys import service as keys_service
from app.keys.service import Vault
from app.providers.base import ChatRequest, Provider, ProviderFailure, TextChunk, UsageReport
from app.providers.factory import build_provider
from app.providers.http import ProviderHttp

logger = logging.getLogger(__name__)
CHECKPOINT_SECONDS = 3.0
INTERNAL_FAILURE = "The answer could not be generated because of an internal error."


@dataclass(slots=True)
class _Progress:
    parts: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def content(self) -> str:
        return "".join(self.parts)


class Generations:
    def __init__(
        self,
        *,
        db: Database,
        broker: Broker,
        vault: Vault,
        settings: Settings,
        http: ProviderHttp,
    ) -> None:
        self._db = db
        self._broker = broker
        self._vault = vault
        self._settings = settings
        self._http = http
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    def start(self, message_id: uuid.UUID) -> None:
        task = asyncio.create_task(self._run(message_id), name=f"generation-{message_id}")
        self._tasks[message_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(message_id, None))

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def shutdown(self) -> None:
        """Interrupt what still runs; each task records INTERRUPTED with its content so far."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, message_id: uuid.UUID) -> None:
        stream_id = str(message_id)
        progress = _Progress()
        try:
            async with self._db.transaction() as session:
                message = await chats_service.get_message_for_generation(session, message_id)
                if message is None or message.status is not MessageStatus.PENDING:
                    return
                conversation = await chats_service.conversation_for(session, message)
                if message.api_key_id is None or message.provider is None or not message.model:
                    raise RuntimeError("an assistant message without provider, model or key")
                api_key = await keys_service.reveal_api_key(
                    session, self._vault, owner_id=message.owner_id, key_id=message.api_key_id
                )
                await keys_service.mark_api_key_used(session, message.api_key_id)
                await chats_service.mark_streaming(session, message_id)
            request = ChatRequest(
                model=message.model,
                turns=conversation.turns,
                system_prompt=conversation.system_prompt,
                temperature=message.temperature,
                max_tokens=message.max_tokens,
            )
            provider = build_provider(self._settings, self._http, message.provider, api_key=api_key)
            try:
                await self._stream(message_id, provider, request, progress)
            finally:
                await provider.aclose()
        except ProviderFailure as failure:
            await self._finish(
                message_id, progress, MessageStatus.FAILED, error=failure.message, error_code="PROVIDER_ERROR"
            )
        except asyncio.CancelledError:
            await asyncio.shield(
                self._finish(
                    message_id,
                    progress,
                    MessageStatus.INTERRUPTED,
                    error="The server stopped before the answer was complete.",
                    error_code="INTERRUPTED",
                )
            )
            raise
        except Exception:
            logger.exception("generation %s failed unexpectedly", stream_id)
            await self._finish(
                message_id, progress, MessageStatus.FAILED, error=INTERNAL_FAILURE, error_code="INTERNAL_SERVER_ERROR"
            )
        else:
            await self._finish(message_id, progress, MessageStatus.COMPLETE)

    async def _stream(
        self, message_id: uuid.UUID, provider: Provider, request: ChatRequest, progress: _Progress
    ) -> None:
        stream_id = str(message_id)
        last_checkpoint = time.monotonic()
        async for item in provider.stream_chat(request):
            if isinstance(item, TextChunk):
                index = len(progress.parts)
                progress.parts.append(item.text)
                await self._publish(stream_id, Delta(index, item.text))
                if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                    last_checkpoint = time.monotonic()
                    async with self._db.transaction() as session:
                        await chats_service.checkpoint(
                            session, message_id, content=progress.content, chunk_count=len(progress.parts)
                        )
            elif isinstance(item, UsageReport):
                progress.input_tokens, progress.output_tokens = item.input_tokens, item.output_tokens

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
                await chats_service.finish_message(
                    session,
                    message_id,
                    status=status,
                    content=progress.content,
                    chunk_count=len(progress.parts),
                    input_tokens=progress.input_tokens,
                    output_tokens=progress.output_tokens,
                    error=error,
                    error_code=error_code,
                )
        except Exception:
            logger.exception("generation %s: the final state could not be stored", message_id)
            return
        await self._publish(str(message_id), End(status=status.value, chunk_count=len(progress.parts)))

    async def _publish(self, stream_id: str, event: BrokerEvent) -> None:
        try:
            await self._broker.publish(stream_id, event)
        except Exception:
            # The content is still stored at the end; subscribers fill gaps from the database.
            logger.warning("generation %s: publishing to the broker failed", stream_id, exc_info=True)
