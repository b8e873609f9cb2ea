from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay
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
        await infra.rate_limits.message(identity.user_id)
        async with infra.db.transaction() as session:
            exchange = await service.start_exchange(
                session,
                infra.vault,
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
                lease=infra.generations.lease(),
                max_running=infra.settings.max_concurrent_generations,
                attachment_ids=[decode_id(file_id, "Attachment") for file_id in input.attachment_ids or []],
            )
        infra.generations.start(exchange.assistant_message.id)
        return SendMessagePayload(
            chat=ChatType.from_model(exchange.chat),
            user_message=MessageType.from_model(exchange.user_message),
            assistant_message=MessageType.from_model(exchange.assistant_message),
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Answer again: a new answer beside this one (same question, model and key), streamed like "
        "sendMessage; the chat's active branch moves to it and the old answer stays.",
    )
    async def regenerate_message(self, info: Info[Context, Any], id: relay.GlobalID) -> MessageType:
        identity = require_identity(info)
        infra = info.context.infra
        await infra.rate_limits.message(identity.user_id)
        async with infra.db.transaction() as session:
            _, answer = await service.start_regeneration(
                session,
                infra.vault,
                owner_id=identity.user_id,
                message_id=decode_id(id, "Message"),
                lease=infra.generations.lease(),
                max_running=infra.settings.max_concurrent_generations,
            )
        infra.generations.start(answer.id)
        return MessageType.from_model(answer)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Stop an answer being written, on whichever server runs it; the text so far is kept and "
        "the message ends CANCELLED. Stopping a finished answer changes nothing.",
    )
    async def stop_generation(self, info: Info[Context, Any], message_id: relay.GlobalID) -> MessageType:
        identity = require_identity(info)
        infra = info.context.infra
        target = decode_id(message_id, "Message")
        async with infra.db.read() as session:
            message = await service.stoppable_message(session, owner_id=identity.user_id, message_id=target)
        if not message.status.is_final:
            await infra.generations.request_stop(target)
            # Until the instance running it records the stop; if none does in time, what we know now.
            message = await service.wait_until_final(infra.db, owner_id=identity.user_id, message_id=target) or message
        return MessageType.from_model(message)
