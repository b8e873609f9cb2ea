"""The limits themselves: who may do what how often, with the settings' numbers.

Fixed windows of a minute, counted per client address, email or user. Failed
sign-ins are counted per email for an hour after the last one; past
``AUTH_FREE_FAILURES`` each failure locks the email for twice as long as the
one before (1 s, 2 s, 4 s … up to ``AUTH_MAX_LOCKOUT_SECONDS``), whoever tries
and from wherever, until a sign-in succeeds. Emails are hashed before they
become keys: the counters hold no addresses.
"""

from __future__ import annotations

import hashlib
import math
import uuid

from app.config import Settings
from app.errors import RateLimited
from app.ratelimit.base import Counters

MINUTE = 60.0
FAILURE_MEMORY_SECONDS = 3600.0


def _email_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def limited(message: str, seconds: float) -> RateLimited:
    retry_after = max(1, math.ceil(seconds))
    return RateLimited(f"{message} Try again in {retry_after} s.", retryAfter=retry_after)


class RateLimits:
    def __init__(self, counters: Counters, settings: Settings) -> None:
        self._counters = counters
        self._settings = settings

    async def _count(self, key: str, per_minute: int, message: str) -> None:
        count, left = await self._counters.hit(key, MINUTE)
        if count > per_minute:
            raise limited(message, left)

    async def auth_attempt(self, *, address: str | None, email: str) -> None:
        """Before a sign-in or sign-up: the email's lockout, then the per-address and per-email windows."""
        subject = f"email:{_email_key(email)}"
        await self._check_lockout(subject, "Too many failed sign-ins for this email.")
        per_minute = self._settings.auth_attempts_per_minute
        if address:
            await self._count(f"auth-address:{address}", per_minute, "Too many sign-in attempts from this address.")
        await self._count(f"auth-{subject}", per_minute, "Too many sign-in attempts for this email.")

    async def auth_failed(self, email: str) -> None:
        await self._failed(f"email:{_email_key(email)}")

    async def auth_succeeded(self, email: str) -> None:
        await self._succeeded(f"email:{_email_key(email)}")

    async def passphrase_attempt(self, user_id: uuid.UUID) -> None:
        """Vault passphrases are guessed like passwords: the same windows and lockouts, per user."""
        subject = f"vault:{user_id}"
        await self._check_lockout(subject, "Too many wrong vault passphrases.")
        per_minute = self._settings.auth_attempts_per_minute
        await self._count(f"auth-{subject}", per_minute, "Too many vault passphrase attempts.")

    async def passphrase_failed(self, user_id: uuid.UUID) -> None:
        await self._failed(f"vault:{user_id}")

    async def passphrase_succeeded(self, user_id: uuid.UUID) -> None:
        await self._succeeded(f"vault:{user_id}")

    async def _check_lockout(self, subject: str, message: str) -> None:
        locked_for = await self._counters.held_for(f"auth-lock:{subject}")
        if locked_for > 0:
            raise limited(message, locked_for)

    async def _failed(self, subject: str) -> None:
        failures, _ = await self._counters.hit(f"auth-failures:{subject}", FAILURE_MEMORY_SECONDS)
        beyond = failures - self._settings.auth_free_failures
        if beyond >= 0:
            lockout = min(2.0 ** min(beyond, 30), self._settings.auth_max_lockout_seconds)
            await self._counters.hold(f"auth-lock:{subject}", lockout)

    async def _succeeded(self, subject: str) -> None:
        await self._counters.clear(f"auth-failures:{subject}", f"auth-lock:{subject}")

    async def message(self, user_id: uuid.UUID) -> None:
        """sendMessage and regenerateMessage share one window per user."""
        await self._count(
            f"messages:{user_id}", self._settings.messages_per_minute, "Too many messages in the last minute."
        )

    async def upload(self, user_id: uuid.UUID) -> None:
        await self._count(
            f"uploads:{user_id}", self._settings.uploads_per_minute, "Too many uploads in the last minute."
        )
