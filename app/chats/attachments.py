"""Uploaded files: what they are (decided from the bytes), where they live, who may read them.

The bytes go to the Storage (S3 or a local directory) under a key of our own;
the row keeps the owner, the message it was sent with, and the type we detected.
Downloads are short-lived signed links: presigned S3 URLs, or an app route with
an HMAC token for local storage. Files never sent with a message are removed a
day after upload.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chats.models import Attachment, Message
from app.db import utcnow
from app.errors import BadUserInput, NotFound
from app.storage.base import Storage
from app.storage.files import IMAGE_TYPES, TEXT_TYPES, delete_objects, detect_content_type, read_upload

UNSENT_LIFETIME = timedelta(days=1)
MAX_FILENAME = 255


def clean_filename(filename: str | None) -> str:
    name = PurePosixPath((filename or "").replace("\\", "/")).name.strip()
    name = "".join(ch for ch in name if ch.isprintable())[:MAX_FILENAME]
    return name or "file"


def storage_key_for(owner_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    return f"attachments/{owner_id}/{attachment_id}"


async def get_attachment(session: AsyncSession, *, owner_id: uuid.UUID, attachment_id: uuid.UUID) -> Attachment:
    attachment = await session.scalar(
        select(Attachment).where(Attachment.owner_id == owner_id, Attachment.id == attachment_id)
    )
    if attachment is None:
        raise NotFound("Attachment not found.")
    return attachment


async def get_many(
    session: AsyncSession, *, owner_id: uuid.UUID, attachment_ids: Sequence[uuid.UUID]
) -> Sequence[Attachment]:
    rows = await session.scalars(
        select(Attachment).where(Attachment.owner_id == owner_id, Attachment.id.in_(attachment_ids))
    )
    return rows.all()


async def get_attachment_for_download(session: AsyncSession, attachment_id: uuid.UUID) -> Attachment | None:
    """For the signed-link route: the link itself is the authorisation."""
    return await session.get(Attachment, attachment_id)


async def attach_to_message(
    session: AsyncSession, *, owner_id: uuid.UUID, attachment_ids: Sequence[uuid.UUID], message_id: uuid.UUID
) -> list[Attachment]:
    attachments = []
    for attachment_id in dict.fromkeys(attachment_ids):
        attachment = await get_attachment(session, owner_id=owner_id, attachment_id=attachment_id)
        if attachment.message_id is not None:
            raise BadUserInput(
                "That file was already sent with another message; upload it again.", field="attachmentIds"
            )
        attachment.message_id = message_id
        attachments.append(attachment)
    await session.flush()
    return attachments


async def for_messages(
    session: AsyncSession, *, owner_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Attachment]]:
    rows = await session.scalars(
        select(Attachment)
        .where(Attachment.owner_id == owner_id, Attachment.message_id.in_(message_ids))
        .order_by(Attachment.created_at, Attachment.id)
    )
    found: dict[uuid.UUID, list[Attachment]] = {}
    for row in rows:
        if row.message_id is not None:
            found.setdefault(row.message_id, []).append(row)
    return found


async def detach_chat(session: AsyncSession, *, owner_id: uuid.UUID, chat_id: uuid.UUID) -> list[str]:
    """Delete the rows of a chat's files; the storage keys to delete once the transaction commits."""
    message_ids = select(Message.id).where(Message.chat_id == chat_id, Message.owner_id == owner_id)
    keys = list(
        await session.scalars(
            select(Attachment.storage_key).where(
                Attachment.owner_id == owner_id, Attachment.message_id.in_(message_ids)
            )
        )
    )
    await session.execute(
        delete(Attachment).where(Attachment.owner_id == owner_id, Attachment.message_id.in_(message_ids))
    )
    return keys


async def claim_unsent(session: AsyncSession, *, older_than: datetime) -> list[str]:
    """Delete the rows of files never sent and older than ``older_than``; their storage keys."""
    result = await session.scalars(
        delete(Attachment)
        .where(Attachment.message_id.is_(None), Attachment.created_at < older_than)
        .returning(Attachment.storage_key)
        .execution_options(synchronize_session=False)
    )
    return list(result)


async def save_upload(
    session: AsyncSession, storage: Storage, *, owner_id: uuid.UUID, filename: str | None, data: bytes
) -> Attachment:
    name = clean_filename(filename)
    content_type = detect_content_type(data, name)
    if content_type is None:
        raise BadUserInput(
            "Unsupported file: send PNG, JPEG, WebP or GIF images, PDF, or plain text or Markdown.", field="file"
        )
    attachment_id = uuid.uuid4()
    key = storage_key_for(owner_id, attachment_id)
    await storage.put(key, data, content_type)
    attachment = Attachment(
        id=attachment_id,
        owner_id=owner_id,
        filename=name,
        content_type=content_type,
        size=len(data),
        storage_key=key,
        created_at=utcnow(),
    )
    session.add(attachment)
    await session.flush()
    return attachment


__all__ = ["IMAGE_TYPES", "TEXT_TYPES", "delete_objects", "detect_content_type", "read_upload"]
