from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.chats import service
from app.chats.models import Attachment, Chat, Message, MessageStatus, Role
from app.context import Context
from app.errors import BadUserInput, NotFound
from app.graphql.nodes import LoadedNode
from app.providers.base import ProviderKind
from app.storage.links import download_url

strawberry.enum(Role, name="Role")
strawberry.enum(MessageStatus, name="MessageStatus")


@strawberry.type(name="Attachment")
class AttachmentType(LoadedNode):
    loader = "attachments"

    id: relay.NodeID[str]
    filename: str
    content_type: str = strawberry.field(description="Decided from the file's bytes, not from what was claimed.")
    size: int
    row: strawberry.Private[Attachment]

    @strawberry.field(description="A short-lived download link (about 15 minutes); only you receive it.")
    async def url(self, info: Info[Context, Any]) -> str:
        return await file_url(info, self.row)

    @classmethod
    def from_model(cls, attachment: Attachment) -> Self:
        return cls(
            id=str(attachment.id),
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=attachment.size,
            row=attachment,
        )


async def file_url(info: Info[Context, Any], attachment: Attachment) -> str:
    infra = info.context.infra
    return await download_url(
        infra.storage,
        secret_key=infra.auth.secret_key,
        base_url=str(info.context.request.base_url),
        kind="attachment",
        object_id=attachment.id,
        key=attachment.storage_key,
        filename=attachment.filename,
        content_type=attachment.content_type,
    )


@strawberry.type(name="Usage")
class UsageType:
    input_tokens: int | None
    output_tokens: int | None


@strawberry.type(name="Message")
class MessageType(LoadedNode):
    loader = "messages"

    id: relay.NodeID[str]
    parent_id: relay.GlobalID | None
    role: Role
    content: str = strawberry.field(description="While streaming: the last checkpoint; the stream has the rest.")
    status: MessageStatus
    provider: ProviderKind | None
    model: str | None
    error: str | None
    usage: UsageType | None
    created_at: datetime
    chat_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Files sent with this message.")
    async def attachments(self, info: Info[Context, Any]) -> list[AttachmentType]:
        rows = await info.context.loaders.message_attachments.load(uuid.UUID(str(self.id)))
        return [AttachmentType.from_model(row) for row in rows]

    @strawberry.field
    async def chat(self, info: Info[Context, Any]) -> ChatType:
        chat = await info.context.loaders.chats.load(self.chat_id)
        if chat is None:
            raise NotFound("Chat not found.")
        return ChatType.from_model(chat)

    @classmethod
    def from_model(cls, message: Message) -> Self:
        has_usage = message.input_tokens is not None or message.output_tokens is not None
        return cls(
            id=str(message.id),
            parent_id=relay.GlobalID("Message", str(message.parent_id)) if message.parent_id else None,
            role=message.role,
            content=message.content,
            status=message.status,
            provider=message.provider,
            model=message.model,
            error=message.error,
            usage=UsageType(input_tokens=message.input_tokens, output_tokens=message.output_tokens)
            if has_usage
            else None,
            created_at=message.created_at,
            chat_id=message.chat_id,
        )


@strawberry.type(name="MessageConnection", description="A page of a chat's active branch, oldest first.")
class MessageConnection(relay.ListConnection[MessageType]):
    """Strawberry's list pagination, with its ValueErrors (a negative ``first``, a cursor that is
    not one) answered as BAD_USER_INPUT instead of an internal error."""

    @classmethod
    def resolve_connection(cls, nodes: Any, *, info: Info[Context, Any], **kwargs: Any) -> Any:
        try:
            return super().resolve_connection(nodes, info=info, **kwargs)
        except ValueError as error:
            message = str(error) if str(error).startswith("Argument") else "That is not a cursor from this list."
            raise BadUserInput(message) from None


@strawberry.type(name="Chat")
class ChatType(LoadedNode):
    loader = "chats"

    id: relay.NodeID[str]
    title: str
    system_prompt: str | None
    provider: ProviderKind | None
    model: str | None
    pinned: bool
    archived: bool
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[Chat]

    @relay.connection(MessageConnection, description="The active branch, oldest first.")
    async def messages(self, info: Info[Context, Any]) -> list[MessageType]:
        async with info.context.db.read() as session:
            branch = await service.active_branch(session, self.row)
        return [MessageType.from_model(message) for message in branch]

    @classmethod
    def from_model(cls, chat: Chat) -> Self:
        return cls(
            id=str(chat.id),
            title=chat.title,
            system_prompt=chat.system_prompt,
            provider=chat.provider,
            model=chat.model,
            pinned=chat.pinned,
            archived=chat.archived,
            created_at=chat.created_at,
            updated_at=chat.updated_at,
            row=chat,
        )


@strawberry.type(name="ChatConnection")
class ChatConnection(relay.Connection[ChatType]):
    @classmethod
    def from_page(cls, page: service.ChatPage, *, after: str | None) -> Self:
        edges = [relay.Edge(cursor=service.encode_cursor(chat), node=ChatType.from_model(chat)) for chat in page.chats]
        return cls(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
