"""Account rules that need production argon2 parameters or a look inside the database."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.auth import service
from app.auth.models import AuthSession, User
from app.auth.passwords import Passwords
from app.db import Database
from app.errors import Unauthenticated
from tests.servers import TEST_SECRET_KEY


def config(passwords: Passwords) -> service.AuthConfig:
    return service.AuthConfig(passwords=passwords, secret_key=TEST_SECRET_KEY, session_ttl=timedelta(days=1))


@pytest.fixture(scope="module")
def production() -> service.AuthConfig:
    return config(Passwords(time_cost=3, memory_cost_kib=64 * 1024, parallelism=4))


async def test_passwords_are_argon2id_and_tokens_are_stored_hashed(
    db: Database, production: service.AuthConfig
) -> None:
    async with db.transaction() as session:
        signed_in = await service.sign_up(
            session, production, email="h@example.com", password="hunter2hunter2", name=None
        )
    async with db.read() as session:
        user = await session.get_one(User, signed_in.user.id)
        hashes = (await session.scalars(select(AuthSession.token_hash))).all()
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "hunter2hunter2" not in user.password_hash
    assert len(hashes) == 1
    assert signed_in.token not in hashes[0]


async def test_sign_in_takes_as_long_for_unknown_emails(db: Database, production: service.AuthConfig) -> None:
    async with db.transaction() as session:
        await service.sign_up(session, production, email="t@example.com", password="right password", name=None)

    async def timed(email: str) -> float:
        started = time.perf_counter()
        with pytest.raises(Unauthenticated):
            async with db.transaction() as session:
                await service.sign_in(session, production, email=email, password="wrong password")
        return time.perf_counter() - started

    known = statistics.median([await timed("t@example.com") for _ in range(5)])
    unknown = statistics.median([await timed("nobody@example.com") for _ in range(5)])
    # Without the dummy verification an unknown email answers ~50x faster; allow generous noise.
    assert 0.5 < unknown / known < 2.0, (known, unknown)


async def test_sign_in_rehashes_when_parameters_change(db: Database) -> None:
    weak = config(Passwords(time_cost=1, memory_cost_kib=1024, parallelism=1))
    stronger = config(Passwords(time_cost=2, memory_cost_kib=2048, parallelism=1))
    async with db.transaction() as session:
        signed_up = await service.sign_up(session, weak, email="r@example.com", password="rehash me please", name=None)
    async with db.transaction() as session:
        await service.sign_in(session, stronger, email="r@example.com", password="rehash me please")
    async with db.read() as session:
        user = await session.get_one(User, signed_up.user.id)
    assert "$m=2048,t=2,p=1$" in user.password_hash
    async with db.transaction() as session:
        await service.sign_in(session, stronger, email="r@example.com", password="rehash me please")
