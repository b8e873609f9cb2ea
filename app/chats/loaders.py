from __future__ import annotations

import uuid
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from app.chats import attachments, service
from app.chats.models import Attachment, Chat, Message
from app.db import Database
from app.graphql.loaders import owned_rows_loader


def chats_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, Chat | None]:
    return owned_rows_loader(
        db, owner_id, lambda session, owner, ids: service.get_chats(session, owner_id=owner, chat_ids=ids)
    )


def messages_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, Message | None]:
    return owned_rows_loader(
        db, owner_id, lambda session, owner, ids: service.get_messages(session, owner_id=owner, message_ids=ids)
    )


def attachments_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, Attachment | None]:
    return owned_rows_loader(
        db, owner_id, lambda session, owner, ids: attachments.get_many(session, owner_id=owner, attachment_ids=ids)
    )


def message_attachments_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, list[Attachment]]:
    """Each message's files, oldest first (an empty list for a message without files)."""

    async def load(message_ids: Sequence[uuid.UUID]) -> list[list[Attachment]]:
        if owner_id is None:
            return [[] for _ in message_ids]
        async with db.read() as session:
            found = await attachments.for_messages(session, owner_id=owner_id, message_ids=message_ids)
        return [found.get(message_id, []) for message_id in message_ids]

    return DataLoader(load_fn=load)
