"""Accounts and sessions: sign-up, sign-in, revocable bearer tokens, password changes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth.models import User
from app.auth.passwords import Passwords, validate_new_password
from app.auth.tokens import hash_token, new_token
from app.db import utcnow
from app.errors import BadUserInput, NotFound, Unauthenticated

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200
TOUCH_INTERVAL = timedelta(minutes=5)
WRONG_CREDENTIALS = "Wrong email or password."


@dataclass(frozen=True, slots=True)
class AuthConfig:
    passwords: Passwords
    secret_key: str
    session_ttl: timedelta


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    user: User


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made a request: the user and the session their token belongs to."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime | None = None


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if len(normalized) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(normalized):
        raise BadUserInput("Enter a valid email address.", field="email")
    return normalized


def clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = name.strip()
    if len(cleaned) > MAX_NAME_LENGTH:
        raise BadUserInput(f"Name must be at most {MAX_NAME_LENGTH} characters.", field="name")
    return cleaned or None


async def sign_up(
    session: AsyncSession, config: AuthConfig, *, email: str, password: str, name: str | None
) -> SignedIn:
    normalized = normalize_email(email)
    validate_new_password(password)
    cleaned_name = clean_name(name)
    if await repository.get_user_by_email(session, normalized) is not None:
        raise BadUserInput("An account with this email already exists.", field="email")
    password_hash = await config.passwords.hash(password)
    try:
        async with session.begin_nested():
            user = await repository.add_user(session, email=normalized, name=cleaned_name, password_hash=password_hash)
    except IntegrityError:
        # Two sign-ups raced past the check above; the unique index decided.
        raise BadUserInput("An account with this email already exists.", field="email") from None
    token = await _start_session(session, config, user.id)
    return SignedIn(token=token, user=user)


async def sign_in(session: AsyncSession, config: AuthConfig, *, email: str, password: str) -> SignedIn:
    try:
        normalized = normalize_email(email)
    except BadUserInput:
        normalized = None
    user = await repository.get_user_by_email(session, normalized) if normalized else None
    # Always one argon2 verification, so timing does not tell whether the email exists.
    if not await config.passwords.verify(user.password_hash if user else None, password) or user is None:
        raise Unauthenticated(WRONG_CREDENTIALS)
    if config.passwords.needs_rehash(user.password_hash):
        user.password_hash = await config.passwords.hash(password)
    token = await _start_session(session, config, user.id)
    return SignedIn(token=token, user=user)


async def _start_session(session: AsyncSession, config: AuthConfig, user_id: uuid.UUID) -> str:
    token = new_token()
    now = utcnow()
    await repository.add_session(
        session,
        user_id=user_id,
        token_hash=hash_token(config.secret_key, token),
        now=now,
        expires_at=now + config.session_ttl,
    )
    return token


async def authenticate(session: AsyncSession, config: AuthConfig, token: str) -> Identity | None:
    """The identity behind a bearer token, or None when unknown, expired or revoked."""
    now = utcnow()
    auth_session = await repository.get_live_session(session, hash_token(config.secret_key, token), now)
    if auth_session is None:
        return None
    if now - auth_session.last_used_at > TOUCH_INTERVAL:
        await repository.touch_session(session, auth_session.id, now)
    return Identity(user_id=auth_session.user_id, session_id=auth_session.id, expires_at=auth_session.expires_at)


async def sign_out(session: AsyncSession, identity: Identity) -> None:
    await repository.revoke_session(session, identity.session_id, utcnow())


async def change_password(
    session: AsyncSession, config: AuthConfig, identity: Identity, *, current_password: str, new_password: str
) -> None:
    user = await get_user(session, identity.user_id)
    if not await config.passwords.verify(user.password_hash, current_password):
        raise BadUserInput("The current password is wrong.", field="currentPassword")
    validate_new_password(new_password)
    user.password_hash = await config.passwords.hash(new_password)
    await repository.revoke_other_sessions(session, user_id=user.id, keep_session_id=identity.session_id, now=utcnow())


async def rename_user(session: AsyncSession, user_id: uuid.UUID, *, name: str | None) -> User:
    user = await get_user(session, user_id)
    user.name = clean_name(name)
    await session.flush()
    return user


async def avatar_of(session: AsyncSession, user_id: uuid.UUID) -> tuple[str, str] | None:
    """The storage key and type of a user's avatar, if any."""
    user = await repository.get_user(session, user_id)
    if user is None or user.avatar_key is None or user.avatar_content_type is None:
        return None
    return user.avatar_key, user.avatar_content_type


async def set_avatar(
    session: AsyncSession, user_id: uuid.UUID, *, key: str, content_type: str
) -> tuple[User, str | None]:
    """Point the user at a new avatar; returns the user and the previous avatar's key (to delete)."""
    user = await get_user(session, user_id)
    previous = user.avatar_key
    user.avatar_key, user.avatar_content_type = key, content_type
    await session.flush()
    return user, previous


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("User not found.")
    return user


async def get_users(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> Sequence[User]:
    return await repository.get_users(session, user_ids)
