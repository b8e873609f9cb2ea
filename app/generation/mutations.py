from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.chats.types import ChatType, MessageType
from app.context import Context
from app.generation import service
from app.generation.types import SendMessageInput, SendMessagePayload
from app.graphql.ids import decode_id
from app.graphql.permissions import IsAuthenticated, require_identity


@strawberry.type
class GenerationMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Store your message and start the answer; follow it with messageStream(assistantMessage.id).",
    )
    async def send_message(self, info: Info[Context, Any], input: SendMessageInput) -> SendMessagePayload:
        identity = require_identity(info)
        infra = info.context.infra
        async with infra.db.transaction() as session:
            exchange = await service.start_exchange(
                session,
                owner_id=identity.user_id,
                chat_id=decode_id(input.chat_id, "Chat") if input.chat_id else None,
                content=input.content,
                provider=input.provider,
                model=input.model,
                api_key_id=decode_id(input.api_key_id, "ApiKey") if input.api_key_id else None,
                parent_id=decode_id(input.parent_id, "Message") if input.parent_id else None,
                system_prompt=input.system_prompt,
                temperature=input.temperature,
                max_tokens=input.max_tokens,
            )
        infra.generations.start(exchange.assistant_message.id)
        return SendMessagePayload(
            chat=ChatType.from_model(exchange.chat),
            user_message=MessageType.from_model(exchange.user_message),
            assistant_message=MessageType.from_model(exchange.assistant_message),
        )
