from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload
from strawberry.types import Info

from app.chats import attachments, service
from app.chats.service import KEEP
from app.chats.types import AttachmentType, ChatType
from app.context import Context
from app.graphql.ids import decode_id
from app.graphql.permissions import IsAuthenticated, require_identity
from app.providers.base import ProviderKind


def _given(value: Any, *, nullable: bool) -> Any:
    """UNSET (left out) keeps the stored value; so does null for a field that cannot be empty."""
    if value is strawberry.UNSET or (value is None and not nullable):
        return KEEP
    return value


@strawberry.type
class ChatsMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Start an empty chat.")
    async def create_chat(
        self,
        info: Info[Context, Any],
        title: str | None = None,
        system_prompt: str | None = None,
        provider: ProviderKind | None = None,
        model: str | None = None,
    ) -> ChatType:
        identity = require_identity(info)
        async with info.context.db.transaction() as session:
            chat = await service.create_chat(
                session,
                owner_id=identity.user_id,
                title=title,
                system_prompt=system_prompt,
                provider=provider,
                model=model,
            )
        return ChatType.from_model(chat)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Change a chat; arguments left out stay as they are, null clears systemPrompt, provider, model.",
    )
    async def update_chat(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        title: str | None = strawberry.UNSET,
        system_prompt: str | None = strawberry.UNSET,
        provider: ProviderKind | None = strawberry.UNSET,
        model: str | None = strawberry.UNSET,
        pinned: bool | None = strawberry.UNSET,
        archived: bool | None = strawberry.UNSET,
    ) -> ChatType:
        identity = require_identity(info)
        async with info.context.db.transaction() as session:
            chat = await service.update_chat(
                session,
                owner_id=identity.user_id,
                chat_id=decode_id(id, "Chat"),
                title=_given(title, nullable=False),
                system_prompt=_given(system_prompt, nullable=True),
                provider=_given(provider, nullable=True),
                model=_given(model, nullable=True),
                pinned=_given(pinned, nullable=False),
                archived=_given(archived, nullable=False),
            )
        return ChatType.from_model(chat)

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Delete a chat and all its messages.")
    async def delete_chat(self, info: Info[Context, Any], id: relay.GlobalID) -> bool:
        identity = require_identity(info)
        chat_id = decode_id(id, "Chat")
        async with info.context.db.transaction() as session:
            file_keys = await attachments.detach_chat(session, owner_id=identity.user_id, chat_id=chat_id)
            await service.delete_chat(session, owner_id=identity.user_id, chat_id=chat_id)
        await attachments.delete_objects(info.context.infra.storage, file_keys)
        return True

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Upload a file (GraphQL multipart request) to send with a message: PNG, JPEG, WebP or GIF "
        "images, PDF, plain text or Markdown; at most MAX_UPLOAD_BYTES. Unsent files are removed after a day.",
    )
    async def upload_file(self, info: Info[Context, Any], file: Upload) -> AttachmentType:
        identity = require_identity(info)
        infra = info.context.infra
        await infra.rate_limits.upload(identity.user_id)
        upload: Any = file  # Starlette's UploadFile
        data = await attachments.read_upload(upload, infra.settings.max_upload_bytes)
        async with infra.db.transaction() as session:
            attachment = await attachments.save_upload(
                session, infra.storage, owner_id=identity.user_id, filename=upload.filename, data=data
            )
        return AttachmentType.from_model(attachment)
