"""argon2id hashing with a constant-time path for unknown accounts."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import BadUserInput

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 1024


class Passwords:
    def __init__(self, *, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism)
        # Verified against when the email is unknown, so both paths cost one argon2 run.
        self._dummy_hash = self._hasher.hash("not a real password, only spends time")

    # argon2 spends tens of milliseconds of CPU by design: run it in a thread, never on the event loop
    # (a blocked loop would stall every stream this instance serves).
    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def validate_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise BadUserInput(f"Password must be at least {MIN_PASSWORD_CHARS} characters.", field="password")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise BadUserInput(f"Password must be at most {MAX_PASSWORD_BYTES} bytes.", field="password")
