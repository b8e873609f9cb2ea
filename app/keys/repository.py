from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.keys.models import ApiKey, UserVault
from app.providers.base import ProviderKind


async def list_for_owner(session: AsyncSession, owner_id: uuid.UUID) -> Sequence[ApiKey]:
    result = await session.scalars(
        select(ApiKey).where(ApiKey.owner_id == owner_id).order_by(ApiKey.created_at, ApiKey.id)
    )
    return result.all()


async def get_many_for_owner(
    session: AsyncSession, owner_id: uuid.UUID, key_ids: Sequence[uuid.UUID]
) -> Sequence[ApiKey]:
    result = await session.scalars(select(ApiKey).where(ApiKey.owner_id == owner_id, ApiKey.id.in_(key_ids)))
    return result.all()


async def get_for_owner(session: AsyncSession, owner_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.owner_id == owner_id, ApiKey.id == key_id))


async def find_same_slot(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    provider: ProviderKind,
    label: str | None,
    base_url: str | None,
) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(
            ApiKey.owner_id == owner_id,
            ApiKey.provider == provider,
            ApiKey.label.is_not_distinct_from(label),
            ApiKey.base_url.is_not_distinct_from(base_url),
        )
    )


async def delete_for_owner(session: AsyncSession, owner_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    result = await session.execute(delete(ApiKey).where(ApiKey.owner_id == owner_id, ApiKey.id == key_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def not_under_master_key(session: AsyncSession, master_key_id: str) -> Sequence[ApiKey]:
    result = await session.scalars(
        select(ApiKey).where(ApiKey.master_key_id != master_key_id).order_by(ApiKey.id).with_for_update()
    )
    return result.all()


async def list_for_provider(session: AsyncSession, owner_id: uuid.UUID, provider: ProviderKind) -> Sequence[ApiKey]:
    result = await session.scalars(
        select(ApiKey).where(ApiKey.owner_id == owner_id, ApiKey.provider == provider).order_by(ApiKey.created_at)
    )
    return result.all()


async def mark_used(session: AsyncSession, key_id: uuid.UUID, when: datetime) -> None:
    statement = update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when)
    await session.execute(statement, execution_options={"synchronize_session": False})  # nobody reads it back


async def get_vault(session: AsyncSession, owner_id: uuid.UUID, *, for_update: bool = False) -> UserVault | None:
    query = select(UserVault).where(UserVault.owner_id == owner_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def delete_vault(session: AsyncSession, owner_id: uuid.UUID) -> None:
    await session.execute(delete(UserVault).where(UserVault.owner_id == owner_id))


async def lock_owner_keys(session: AsyncSession, owner_id: uuid.UUID) -> None:
    """Serialise, until the transaction ends, what changes how an owner's keys are sealed (storing a key,
    setting a vault passphrase): otherwise a key stored while a passphrase is being set could stay
    unsealed. PostgreSQL only; SQLite (the embedded default) already runs one writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        lock_id = int.from_bytes(owner_id.bytes[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": lock_id})
