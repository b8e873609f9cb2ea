from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, func, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.chats.models import Chat, Message, MessageStatus


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def get_chat(session: AsyncSession, owner_id: uuid.UUID, chat_id: uuid.UUID) -> Chat | None:
    return await session.scalar(select(Chat).where(Chat.owner_id == owner_id, Chat.id == chat_id))


async def get_chats(session: AsyncSession, owner_id: uuid.UUID, chat_ids: Sequence[uuid.UUID]) -> Sequence[Chat]:
    result = await session.scalars(select(Chat).where(Chat.owner_id == owner_id, Chat.id.in_(chat_ids)))
    return result.all()


async def list_chats(
    session: AsyncSession,
    owner_id: uuid.UUID,
    *,
    archived: bool,
    search: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Chat]:
    query = select(Chat).where(Chat.owner_id == owner_id, Chat.archived == archived)
    if search:
        pattern = _like_pattern(search)
        in_messages = exists().where(Message.chat_id == Chat.id, func.lower(Message.content).like(pattern, escape="\\"))
        query = query.where(or_(func.lower(Chat.title).like(pattern, escape="\\"), in_messages))
    if after is not None:
        query = query.where(
            tuple_(Chat.updated_at, Chat.id) < tuple_(literal(after[0], Chat.updated_at.type), after[1])
        )
    query = query.order_by(Chat.updated_at.desc(), Chat.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def delete_chat(session: AsyncSession, owner_id: uuid.UUID, chat_id: uuid.UUID) -> bool:
    # Break the chat -> leaf reference first so the cascade to messages meets no cycle.
    await session.execute(update(Chat).where(Chat.owner_id == owner_id, Chat.id == chat_id).values(active_leaf_id=None))
    await session.execute(delete(Message).where(Message.owner_id == owner_id, Message.chat_id == chat_id))
    result = await session.execute(delete(Chat).where(Chat.owner_id == owner_id, Chat.id == chat_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def count_unfinished(session: AsyncSession, owner_id: uuid.UUID) -> int:
    unfinished = (MessageStatus.PENDING, MessageStatus.STREAMING)
    query = select(func.count()).where(Message.owner_id == owner_id, Message.status.in_(unfinished))
    return int(await session.scalar(query) or 0)


async def get_message(session: AsyncSession, owner_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    return await session.scalar(select(Message).where(Message.owner_id == owner_id, Message.id == message_id))


async def get_messages(
    session: AsyncSession, owner_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
) -> Sequence[Message]:
    result = await session.scalars(select(Message).where(Message.owner_id == owner_id, Message.id.in_(message_ids)))
    return result.all()


@functools.cache
def _path_to_root_query() -> Select[Message]:
    # Built once, on first use (the mappers are configured by then): an aliased class costs
    # milliseconds of CPU to build, and every generation asks for its conversation.
    path = (
        select(Message.id.label("id"), Message.parent_id.label("parent_id"), literal(0).label("depth"))
        .where(Message.id == bindparam("leaf_id"))
        .cte("path", recursive=True)
    )
    parent = aliased(Message)
    path = path.union_all(select(parent.id, parent.parent_id, path.c.depth + 1).where(parent.id == path.c.parent_id))
    return select(Message).join(path, Message.id == path.c.id).order_by(path.c.depth.desc())


async def path_to_root(session: AsyncSession, leaf_id: uuid.UUID) -> Sequence[Message]:
    """The messages from the root down to ``leaf_id``, oldest first (one recursive query)."""
    return (await session.scalars(_path_to_root_query(), {"leaf_id": leaf_id})).all()


# The generation's writes below go by id to rows nobody reads back from the same session: telling the
# ORM not to look for loaded copies to update saves it an evaluation per statement (a token path cost).
_NO_SYNC = {"synchronize_session": False}


async def update_message(session: AsyncSession, message_id: uuid.UUID, **values: Any) -> bool:
    statement = update(Message).where(Message.id == message_id).values(**values)
    result = await session.execute(statement, execution_options=_NO_SYNC)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def finish_owned(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    lease_owner: str,
    unfinished: Sequence[object],
    values: dict[str, Any],
) -> bool:
    result = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.lease_owner == lease_owner, Message.status.in_(unfinished))
        .values(**values),
        execution_options=_NO_SYNC,
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def renew_leases(session: AsyncSession, *, owner: str, message_ids: Sequence[uuid.UUID], until: datetime) -> None:
    await session.execute(
        update(Message).where(Message.id.in_(message_ids), Message.lease_owner == owner).values(lease_expires_at=until),
        execution_options=_NO_SYNC,
    )


async def interrupt_unfinished(
    session: AsyncSession,
    *,
    unfinished: Sequence[object],
    expired_before: datetime | None,
    values: dict[str, Any],
) -> Sequence[Message]:
    query = update(Message).where(Message.status.in_(unfinished))
    if expired_before is not None:
        query = query.where(or_(Message.lease_expires_at.is_(None), Message.lease_expires_at < expired_before))
    result = await session.scalars(
        query.values(**values).returning(Message).execution_options(synchronize_session=False)
    )
    return result.all()
