from __future__ import annotations

import uuid
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from app.chats import attachments, service
from app.chats.models import Attachment, Chat, Message
from app.db import Database


def chats_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, Chat | None]:
    async def load(chat_ids: Sequence[uuid.UUID]) -> list[Chat | None]:
        if owner_id is None:
            return [None] * len(chat_ids)
        async with db.read() as session:
            found = {chat.id: chat for chat in await service.get_chats(session, owner_id=owner_id, chat_ids=chat_ids)}
        return [found.get(chat_id) for chat_id in chat_ids]

    return DataLoader(load_fn=load)


def attachments_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, Attachment | None]:
    async def load(attachment_ids: Sequence[uuid.UUID]) -> list[Attachment | None]:
        if owner_id is None:
            return [None] * len(attachment_ids)
        async with db.read() as session:
            rows = await attachments.get_many(session, owner_id=owner_id, attachment_ids=attachment_ids)
        found = {row.id: row for row in rows}
        return [found.get(attachment_id) for attachment_id in attachment_ids]

    return DataLoader(load_fn=load)


def message_attachments_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, list[Attachment]]:
    async def load(message_ids: Sequence[uuid.UUID]) -> list[list[Attachment]]:
        if owner_id is None:
            return [[] for _ in message_ids]
        async with db.read() as session:
            found = await attachments.for_messages(session, owner_id=owner_id, message_ids=message_ids)
        return [found.get(message_id, []) for message_id in message_ids]

    return DataLoader(load_fn=load)


def messages_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, Message | None]:
    async def load(message_ids: Sequence[uuid.UUID]) -> list[Message | None]:
        if owner_id is None:
            return [None] * len(message_ids)
        async with db.read() as session:
            rows = await service.get_messages(session, owner_id=owner_id, message_ids=message_ids)
        found = {message.id: message for message in rows}
        return [found.get(message_id) for message_id in message_ids]

    return DataLoader(load_fn=load)
