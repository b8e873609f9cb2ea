"""Starting exchanges: what sendMessage checks and stores before a generation runs."""

from __future__ import annotations

import math
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.chats import service as chats_service
from app.errors import BadUserInput
from app.keys import service as keys_service
from app.providers.base import ProviderKind
from app.providers.factory import STREAMING_PROVIDERS

MAX_OUTPUT_TOKENS = 1_000_000


def validate_sampling(temperature: float | None, max_tokens: int | None) -> None:
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= 2):
        raise BadUserInput("temperature must be between 0 and 2.", field="temperature")
    if max_tokens is not None and not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
        raise BadUserInput(f"maxTokens must be between 1 and {MAX_OUTPUT_TOKENS:,}.", field="maxTokens")


async def start_exchange(
    session: AsyncSession,
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
) -> chats_service.Exchange:
    """Validate everything, then store the user message and a PENDING answer (the caller starts it)."""
    chats_service.validate_content(content)
    validate_sampling(temperature, max_tokens)
    if provider not in STREAMING_PROVIDERS:
        raise BadUserInput(f"Chatting with {provider.value} models is not available yet.", field="provider")
    api_key = await keys_service.choose_api_key(session, owner_id=owner_id, provider=provider, api_key_id=api_key_id)
    return await chats_service.add_exchange(
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
    )
