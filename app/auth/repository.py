from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import AuthSession, User


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_users(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> Sequence[User]:
    result = await session.scalars(select(User).where(User.id.in_(user_ids)))
    return result.all()


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def add_user(session: AsyncSession, *, email: str, name: str | None, password_hash: str) -> User:
    user = User(email=email, name=name, password_hash=password_hash)
    session.add(user)
    await session.flush()
    return user


async def add_session(
    session: AsyncSession, *, user_id: uuid.UUID, token_hash: str, now: datetime, expires_at: datetime
) -> AuthSession:
    auth_session = AuthSession(
        user_id=user_id, token_hash=token_hash, created_at=now, last_used_at=now, expires_at=expires_at
    )
    session.add(auth_session)
    await session.flush()
    return auth_session


async def get_live_session(session: AsyncSession, token_hash: str, now: datetime) -> AuthSession | None:
    return await session.scalar(
        select(AuthSession).where(
            AuthSession.token_hash == token_hash,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
    )


async def touch_session(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(update(AuthSession).where(AuthSession.id == session_id).values(last_used_at=now))


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(AuthSession).where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None)).values(revoked_at=now)
    )


async def revoke_other_sessions(
    session: AsyncSession, *, user_id: uuid.UUID, keep_session_id: uuid.UUID, now: datetime
) -> None:
    await session.execute(
        update(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.id != keep_session_id,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
