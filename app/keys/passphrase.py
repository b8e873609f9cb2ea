"""Passphrase-locked vaults: set, change or drop a passphrase, unlock and lock.

With a passphrase, a user's data keys are sealed by their own vault key, which
is stored only wrapped by a key derived from the passphrase (argon2id, salt and
parameters kept beside it). Unlocking puts the vault key, wrapped by the master
key, in the short-lived store of open vaults; generations and model lists take
it from there, and fail with VaultLocked when it is gone. Changing or dropping
the passphrase re-wraps every one of the user's keys in one transaction.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2.low_level import Type, hash_secret_raw
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import BadUserInput
from app.keys import crypto, repository
from app.keys.models import UserVault
from app.keys.service import Vault, aad_of, envelope_of, store_envelope

MIN_PASSPHRASE_CHARS = 10
MAX_PASSPHRASE_BYTES = 1024
SALT_BYTES = 16


class WrongPassphrase(BadUserInput):
    def __init__(self, field: str) -> None:
        super().__init__("The vault passphrase is wrong.", field=field)


@dataclass(frozen=True, slots=True)
class KdfParams:
    """argon2id cost for new passphrases (existing vaults keep the parameters they were made with)."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int


@dataclass(frozen=True, slots=True)
class VaultState:
    enabled: bool
    unlocked_until: datetime | None


def validate_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise BadUserInput(f"A vault passphrase has at least {MIN_PASSPHRASE_CHARS} characters.", field="passphrase")
    if len(passphrase.encode()) > MAX_PASSPHRASE_BYTES:
        raise BadUserInput(f"A vault passphrase has at most {MAX_PASSPHRASE_BYTES} bytes.", field="passphrase")


def _wrapping_aad(owner_id: uuid.UUID) -> bytes:
    return f"llm-aggregator/vault-key/v1|{owner_id}".encode()


async def _derive(passphrase: str, salt: bytes, kdf: KdfParams) -> bytes:
    # Seconds of CPU by design: in a thread, never on the event loop.
    return await asyncio.to_thread(
        hash_secret_raw,
        passphrase.encode(),
        salt,
        time_cost=kdf.time_cost,
        memory_cost=kdf.memory_cost_kib,
        parallelism=kdf.parallelism,
        hash_len=32,
        type=Type.ID,
    )


async def _open(stored: UserVault, passphrase: str, field: str) -> bytes:
    kdf = KdfParams(stored.kdf_time_cost, stored.kdf_memory_cost_kib, stored.kdf_parallelism)
    kek = await _derive(passphrase, stored.salt, kdf)
    try:
        return crypto.unwrap_key(kek, stored.wrapped_vault_key, _wrapping_aad(stored.owner_id))
    except crypto.DecryptionError:
        raise WrongPassphrase(field) from None


async def vault_state(session: AsyncSession, vault: Vault, owner_id: uuid.UUID) -> VaultState:
    if await repository.get_vault(session, owner_id) is None:
        return VaultState(enabled=False, unlocked_until=None)
    entry = await vault.vault_key_of(owner_id)
    until = utcnow() + timedelta(seconds=entry[1]) if entry is not None else None
    return VaultState(enabled=True, unlocked_until=until)


async def set_passphrase(
    session: AsyncSession,
    vault: Vault,
    kdf: KdfParams,
    *,
    owner_id: uuid.UUID,
    passphrase: str | None,
    current_passphrase: str | None,
) -> bytes | None:
    """Set, change (``current_passphrase`` required) or drop (``passphrase`` None) the vault passphrase,
    re-wrapping every key of the owner. Returns the new vault key, for the caller to open the vault
    with once the transaction has committed."""
    if passphrase is not None:
        validate_passphrase(passphrase)
    await repository.lock_owner_keys(session, owner_id)
    stored = await repository.get_vault(session, owner_id, for_update=True)
    old_key: bytes | None = None
    if stored is not None:
        if current_passphrase is None:
            raise BadUserInput(
                "Give currentPassphrase to change or remove the vault passphrase.", field="currentPassphrase"
            )
        old_key = await _open(stored, current_passphrase, "currentPassphrase")
    elif passphrase is None:
        return None  # nothing set, nothing to drop
    new_key = crypto.new_vault_key() if passphrase is not None else None

    for api_key in await repository.list_for_owner(session, owner_id):
        envelope = crypto.reseal(
            vault.keyring,
            envelope_of(api_key),
            aad_of(api_key),
            vault.current,
            old_vault_key=old_key if api_key.sealed else None,
            new_vault_key=new_key,
        )
        store_envelope(api_key, envelope)

    if new_key is None or passphrase is None:
        await repository.delete_vault(session, owner_id)
        await session.flush()
        return None
    salt = os.urandom(SALT_BYTES)
    kek = await _derive(passphrase, salt, kdf)
    if stored is None:
        stored = UserVault(owner_id=owner_id)
        session.add(stored)
    stored.salt = salt
    stored.kdf_time_cost, stored.kdf_memory_cost_kib, stored.kdf_parallelism = (
        kdf.time_cost,
        kdf.memory_cost_kib,
        kdf.parallelism,
    )
    stored.wrapped_vault_key = crypto.wrap_key(kek, new_key, _wrapping_aad(owner_id))
    stored.updated_at = utcnow()
    await session.flush()
    return new_key


async def unlock(session: AsyncSession, vault: Vault, *, owner_id: uuid.UUID, passphrase: str) -> None:
    stored = await repository.get_vault(session, owner_id)
    if stored is None:
        raise BadUserInput("You have no vault passphrase: there is nothing to unlock.", field="passphrase")
    await vault.remember_vault_key(owner_id, await _open(stored, passphrase, "passphrase"))
