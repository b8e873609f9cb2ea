"""Starting exchanges: what sendMessage checks and stores before a generation runs."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.chats import attachments
from app.chats import service as chats_service
from app.chats.models import Chat, Message, Role
from app.db import Database
from app.errors import BadUserInput, RateLimited
from app.keys import service as keys_service
from app.providers.base import ProviderKind
from app.providers.catalog import describe_model
from app.providers.factory import STREAMING_PROVIDERS

MAX_OUTPUT_TOKENS = 1_000_000
STOP_WAIT_SECONDS = 10.0
STOP_POLL_SECONDS = 0.05
CAPACITY_RETRY_SECONDS = 5  # a guess: answers take seconds; the client may also just wait for one to end


def validate_sampling(temperature: float | None, max_tokens: int | None) -> None:
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= 2):
        raise BadUserInput("temperature must be between 0 and 2.", field="temperature")
    if max_tokens is not None and not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
        raise BadUserInput(f"maxTokens must be between 1 and {MAX_OUTPUT_TOKENS:,}.", field="maxTokens")


async def _ensure_capacity(session: AsyncSession, *, owner_id: uuid.UUID, limit: int) -> None:
    """Refuse a new answer while ``limit`` of the owner's answers are still being written."""
    running = await chats_service.count_unfinished_answers(session, owner_id=owner_id)
    if running >= limit:
        raise RateLimited(
            f"{running} of your answers are still being written (at most {limit} at once): "
            "wait for one to finish or stop one.",
            retryAfter=CAPACITY_RETRY_SECONDS,
        )


async def start_exchange(
    session: AsyncSession,
    vault: keys_service.Vault,
    *,
    owner_id: uuid.UUID,
    chat_id: uuid.UUID | None,
    content: str,
    provider: ProviderKind,
    model: str,
    api_key_id: uuid.UUID | None,
    parent_id: uuid.UUID | None,
    system_prompt: str | None,
    temperature: float | None,
    max_tokens: int | None,
    lease: chats_service.Lease,
    max_running: int,
    attachment_ids: Sequence[uuid.UUID] = (),
) -> chats_service.Exchange:
    """Validate everything, then store the user message and a PENDING answer (the caller starts it).

    The content itself is checked by chats_service.add_exchange, which owns that rule.
    """
    validate_sampling(temperature, max_tokens)
    await _ensure_capacity(session, owner_id=owner_id, limit=max_running)
    if provider not in STREAMING_PROVIDERS:
        raise BadUserInput(f"Chatting with {provider.value} models is not available yet.", field="provider")
    api_key = await keys_service.choose_api_key(session, owner_id=owner_id, provider=provider, api_key_id=api_key_id)
    await vault.key_for(api_key)  # a sealed key of a locked vault: FORBIDDEN now, before anything is stored
    exchange = await chats_service.add_exchange(
        session,
        owner_id=owner_id,
        chat_id=chat_id,
        content=content,
        provider=provider,
        model=model,
        api_key_id=api_key.id,
        parent_id=parent_id,
        system_prompt=system_prompt,
        temperature=temperature,
        max_tokens=max_tokens,
        lease=lease,
    )
    if attachment_ids:
        files = await attachments.attach_to_message(
            session, owner_id=owner_id, attachment_ids=attachment_ids, message_id=exchange.user_message.id
        )
        known = describe_model(model)  # a model we know nothing about gets the benefit of the doubt
        if (
            any(file.content_type in attachments.IMAGE_TYPES for file in files)
            and known.display_name
            and not known.supports_vision
        ):
            raise BadUserInput(f"The model {model} does not take images: pick a vision model.", field="attachmentIds")
    return exchange


async def start_regeneration(
    session: AsyncSession,
    vault: keys_service.Vault,
    *,
    owner_id: uuid.UUID,
    message_id: uuid.UUID,
    lease: chats_service.Lease,
    max_running: int,
) -> tuple[Chat, Message]:
    """A new answer beside the given one (or under the given question), ready to be started."""
    await _ensure_capacity(session, owner_id=owner_id, limit=max_running)
    chat, answer = await chats_service.add_regeneration(session, owner_id=owner_id, message_id=message_id, lease=lease)
    provider = answer.provider
    if provider is None or provider not in STREAMING_PROVIDERS:
        raise BadUserInput("Chatting with this provider's models is not available yet.", field="id")
    if answer.api_key_id is None:  # the original key was deleted, or a question is answered anew
        api_key = await keys_service.choose_api_key(session, owner_id=owner_id, provider=provider, api_key_id=None)
        answer.api_key_id = api_key.id
        await session.flush()
    else:
        api_key = await keys_service.get_api_key(session, owner_id=owner_id, key_id=answer.api_key_id)
    await vault.key_for(api_key)
    return chat, answer


async def stoppable_message(session: AsyncSession, *, owner_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    message = await chats_service.get_message(session, owner_id=owner_id, message_id=message_id)
    if message.role is not Role.ASSISTANT:
        raise BadUserInput("Only an answer can be stopped.", field="messageId")
    return message


async def wait_until_final(db: Database, *, owner_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    """The message once its generation has recorded its end, or None after STOP_WAIT_SECONDS."""
    try:
        async with asyncio.timeout(STOP_WAIT_SECONDS):
            while True:
                async with db.read() as session:
                    message = await chats_service.get_message(session, owner_id=owner_id, message_id=message_id)
                if message.status.is_final:
                    return message
                await asyncio.sleep(STOP_POLL_SECONDS)
    except TimeoutError:
        return None
