"""The provider-key vault: validation, envelope encryption, masking, master-key rotation.

A key's plaintext leaves this module only through ``reveal_credentials``, for the
generation that calls the provider with it (the key check and the model lists call
the provider from here). It is never logged and never part of an error.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.errors import BadUserInput, Forbidden, NotFound
from app.keys import crypto, repository
from app.keys.models import ApiKey
from app.keys.unlocked import UnlockedVaults
from app.providers import ssrf
from app.providers.base import FailureKind, ModelInfo, ProviderFailure, ProviderKind
from app.providers.catalog import CatalogCache, builtin_models
from app.providers.factory import build_provider
from app.providers.http import ProviderHttp

logger = logging.getLogger(__name__)
MAX_KEY_BYTES = 4096
DEFAULT_UNLOCK_SECONDS = 900.0
VAULT_LOCKED = "Your key vault is locked: unlock it with unlockVault(passphrase) first."
MAX_LABEL_LENGTH = 100
MAX_BASE_URL_LENGTH = 2048
_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")
_KEY_PREFIX = re.compile(r"^(?:[A-Za-z]{2,4}[-_]){1,2}|^AIza")


class VaultLocked(Forbidden):
    def __init__(self) -> None:
        super().__init__(VAULT_LOCKED, reason="VAULT_LOCKED")


@dataclass(frozen=True, slots=True)
class Vault:
    """The master key that wraps new data keys, older ones still able to unwrap, and the vault keys
    of users whose passphrase-locked vault is open right now."""

    current: crypto.MasterKey
    previous: tuple[crypto.MasterKey, ...] = ()
    unlocked: UnlockedVaults = field(default_factory=lambda: UnlockedVaults(None, DEFAULT_UNLOCK_SECONDS))
    keyring: dict[str, crypto.MasterKey] = field(init=False)

    def __post_init__(self) -> None:
        ring = {key.key_id: key for key in (*self.previous, self.current)}
        object.__setattr__(self, "keyring", ring)

    @classmethod
    def from_secrets(cls, current: str, *previous: str, unlocked: UnlockedVaults | None = None) -> Vault:
        return cls(
            current=crypto.MasterKey.from_secret(current),
            previous=tuple(crypto.MasterKey.from_secret(p) for p in previous),
            unlocked=unlocked or UnlockedVaults(None, DEFAULT_UNLOCK_SECONDS),
        )

    async def remember_vault_key(self, owner_id: uuid.UUID, vault_key: bytes) -> None:
        await self.unlocked.put(owner_id, crypto.wrap_with_master(self.current, vault_key, _unlocked_aad(owner_id)))

    async def vault_key_of(self, owner_id: uuid.UUID) -> tuple[bytes, float] | None:
        """The owner's open vault key and the seconds it stays open, or None while it is locked."""
        entry = await self.unlocked.get(owner_id)
        if entry is None:
            return None
        try:
            return crypto.unwrap_with_master(self.keyring, entry[0], _unlocked_aad(owner_id)), entry[1]
        except crypto.DecryptionError:
            return None  # wrapped under a master key this instance no longer has: unlock again

    async def forget_vault_key(self, owner_id: uuid.UUID) -> None:
        await self.unlocked.drop(owner_id)

    async def open_key(self, owner_id: uuid.UUID) -> bytes:
        """The owner's open vault key; VaultLocked while it is locked."""
        entry = await self.vault_key_of(owner_id)
        if entry is None:
            raise VaultLocked
        return entry[0]

    async def key_for(self, api_key: ApiKey) -> bytes | None:
        """The vault key a key's envelope needs: None for an unsealed one; VaultLocked when it is locked."""
        return await self.open_key(api_key.owner_id) if api_key.sealed else None


def _unlocked_aad(owner_id: uuid.UUID) -> bytes:
    return f"llm-aggregator/unlocked-vault-key/v1|{owner_id}".encode()


def mask_key(key: str) -> str:
    """A hint such as ``sk-…abcd``: a well-known prefix and the last four characters."""
    if len(key) < 12:
        return "…" + key[-2:]
    prefix_match = _KEY_PREFIX.match(key)
    prefix = prefix_match.group(0)[:8] if prefix_match else ""
    return f"{prefix}…{key[-4:]}"


def _clean_key(key: str) -> str:
    cleaned = key.strip()
    if not cleaned:
        raise BadUserInput("The API key is empty.", field="key")
    if len(cleaned.encode()) > MAX_KEY_BYTES:
        raise BadUserInput("The API key is longer than 4 KB.", field="key")
    if not _KEY_CHARS.match(cleaned):
        raise BadUserInput("The API key contains spaces or characters that API keys never have.", field="key")
    return cleaned


def _clean_label(label: str | None) -> str | None:
    if label is None:
        return None
    cleaned = label.strip()
    if len(cleaned) > MAX_LABEL_LENGTH:
        raise BadUserInput(f"The label must be at most {MAX_LABEL_LENGTH} characters.", field="label")
    return cleaned or None


async def _clean_base_url(provider: ProviderKind, base_url: str | None, *, allow_private: bool) -> str | None:
    base_url = base_url.strip() if base_url else None
    if provider is not ProviderKind.OPENAI_COMPATIBLE:
        if base_url:
            raise BadUserInput("baseUrl is only for OPENAI_COMPATIBLE keys.", field="baseUrl")
        return None
    if not base_url:
        raise BadUserInput("An OPENAI_COMPATIBLE key needs the server's baseUrl.", field="baseUrl")
    if len(base_url) > MAX_BASE_URL_LENGTH:
        raise BadUserInput("baseUrl is too long.", field="baseUrl")
    try:
        host, port = ssrf.check_url_shape(base_url)
    except ValueError as error:
        raise BadUserInput(f"baseUrl {error}.", field="baseUrl") from None
    try:
        # Checked again at every connection (see app.providers.ssrf); this gives the user an answer now.
        await ssrf.allowed_addresses(host, port, allow_private=allow_private, resolver=ssrf.system_resolver)
    except ssrf.ForbiddenEndpoint as error:
        hint = "" if allow_private else " (a server on your own network needs ALLOW_PRIVATE_ENDPOINTS=true)"
        raise BadUserInput(f"baseUrl cannot be used: {error}{hint}.", field="baseUrl") from None
    return base_url.rstrip("/")


def aad_of(api_key: ApiKey) -> bytes:
    return crypto.associated_data(
        owner_id=str(api_key.owner_id), provider=api_key.provider.value, record_id=str(api_key.id)
    )


def store_envelope(api_key: ApiKey, envelope: crypto.Envelope) -> None:
    api_key.sealed = envelope.sealed
    api_key.envelope_version = envelope.version
    api_key.master_key_id = envelope.master_key_id
    api_key.wrapped_data_key = envelope.wrapped_data_key
    api_key.ciphertext = envelope.ciphertext


def envelope_of(api_key: ApiKey) -> crypto.Envelope:
    return crypto.Envelope(
        version=api_key.envelope_version,
        master_key_id=api_key.master_key_id,
        wrapped_data_key=api_key.wrapped_data_key,
        ciphertext=api_key.ciphertext,
        sealed=api_key.sealed,
    )


@dataclass(frozen=True, slots=True)
class ProviderAccess:
    """What talking to providers takes: endpoints, shared pools, the model-list cache."""

    settings: Settings
    http: ProviderHttp
    catalogs: CatalogCache


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key checked and ready to store (and the models the provider listed for it, when asked)."""

    provider: ProviderKind
    secret: str = field(repr=False)
    base_url: str | None
    label: str | None
    models: list[ModelInfo] | None = None


async def prepare_key(
    *,
    provider: ProviderKind,
    key: str,
    base_url: str | None,
    label: str | None,
    allow_private: bool,
    access: ProviderAccess | None,
) -> NewKey:
    """Validate a key and, with ``access``, check it once against the provider (outside any transaction).

    A key the provider rejects is BAD_USER_INPUT; a provider that cannot be reached does not block storing.
    """
    new_key = NewKey(
        provider=provider,
        secret=_clean_key(key),
        base_url=await _clean_base_url(provider, base_url, allow_private=allow_private),
        label=_clean_label(label),
    )
    if access is None:
        return new_key
    try:
        models = await _list_models(access, provider, new_key.secret, new_key.base_url)
    except ProviderFailure as failure:
        if failure.kind in (FailureKind.AUTHENTICATION, FailureKind.PERMISSION):
            raise BadUserInput(f"The provider rejected this key ({failure.message})", field="key") from None
        logger.info("key check skipped: %s", failure.kind.name)  # unreachable now; it may work later
        return new_key
    return NewKey(provider, new_key.secret, new_key.base_url, new_key.label, models)


async def _list_models(
    access: ProviderAccess, provider: ProviderKind, secret: str, base_url: str | None
) -> list[ModelInfo]:
    client = build_provider(access.settings, access.http, provider, api_key=secret, base_url=base_url)
    try:
        return await client.list_models()
    finally:
        await client.aclose()


async def store_key(session: AsyncSession, vault: Vault, *, owner_id: uuid.UUID, new_key: NewKey) -> ApiKey:
    """Store a key; the same provider, label and base URL again replaces the stored secret.

    With a vault passphrase the key is sealed by the vault key, so the vault must be open (VaultLocked).
    """
    await repository.lock_owner_keys(session, owner_id)
    vault_key = await open_vault_key(session, vault, owner_id)
    api_key = await repository.find_same_slot(
        session, owner_id=owner_id, provider=new_key.provider, label=new_key.label, base_url=new_key.base_url
    )
    if api_key is None:
        api_key = ApiKey(
            id=uuid.uuid4(),
            owner_id=owner_id,
            provider=new_key.provider,
            label=new_key.label,
            base_url=new_key.base_url,
        )
        session.add(api_key)
    api_key.updated_at = utcnow()
    api_key.hint = mask_key(new_key.secret)
    store_envelope(api_key, crypto.seal(vault.current, new_key.secret.encode(), aad_of(api_key), vault_key))
    await session.flush()
    return api_key


async def set_api_key(
    session: AsyncSession,
    vault: Vault,
    *,
    owner_id: uuid.UUID,
    provider: ProviderKind,
    key: str,
    base_url: str | None,
    label: str | None,
    allow_private: bool = False,
) -> ApiKey:
    """prepare_key (without asking the provider) and store_key, in one go."""
    new_key = await prepare_key(
        provider=provider, key=key, base_url=base_url, label=label, allow_private=allow_private, access=None
    )
    return await store_key(session, vault, owner_id=owner_id, new_key=new_key)


def _catalog_key(api_key: ApiKey) -> str:
    return f"{api_key.id}:{api_key.updated_at.timestamp()}"


async def remember_models(access: ProviderAccess, api_key: ApiKey, models: list[ModelInfo]) -> None:
    await access.catalogs.put(_catalog_key(api_key), models)


async def models_for_key(vault: Vault, access: ProviderAccess, api_key: ApiKey) -> list[ModelInfo]:
    """The models this key can use: the provider's own list (cached ~10 min), else the built-in one."""
    cached = await access.catalogs.get(_catalog_key(api_key))
    if cached is not None:
        return cached
    try:
        vault_key = await vault.key_for(api_key)
        secret = crypto.open_envelope(vault.keyring, envelope_of(api_key), aad_of(api_key), vault_key).decode()
        models = await _list_models(access, api_key.provider, secret, api_key.base_url)
    except (ProviderFailure, crypto.DecryptionError, ValueError, VaultLocked) as error:
        logger.info("model list for key %s unavailable (%s); built-in list", api_key.id, type(error).__name__)
        return builtin_models(api_key.provider)
    await access.catalogs.put(_catalog_key(api_key), models)
    return models


async def list_api_keys(session: AsyncSession, *, owner_id: uuid.UUID) -> Sequence[ApiKey]:
    return await repository.list_for_owner(session, owner_id)


async def get_api_keys(session: AsyncSession, *, owner_id: uuid.UUID, key_ids: Sequence[uuid.UUID]) -> Sequence[ApiKey]:
    return await repository.get_many_for_owner(session, owner_id, key_ids)


async def get_api_key(session: AsyncSession, *, owner_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    api_key = await repository.get_for_owner(session, owner_id, key_id)
    if api_key is None:
        raise NotFound("API key not found.")
    return api_key


async def delete_api_key(session: AsyncSession, *, owner_id: uuid.UUID, key_id: uuid.UUID) -> None:
    if not await repository.delete_for_owner(session, owner_id, key_id):
        raise NotFound("API key not found.")


@dataclass(frozen=True, slots=True)
class Credentials:
    secret: str = field(repr=False)
    base_url: str | None


async def reveal_credentials(
    session: AsyncSession, vault: Vault, *, owner_id: uuid.UUID, key_id: uuid.UUID
) -> Credentials:
    """The plaintext key (and its endpoint), for the provider call that needs it.

    Raises VaultLocked when the owner's passphrase-locked vault is closed, DecryptionError when the
    stored envelope was tampered with or moved.
    """
    api_key = await get_api_key(session, owner_id=owner_id, key_id=key_id)
    vault_key = await vault.key_for(api_key)
    secret = crypto.open_envelope(vault.keyring, envelope_of(api_key), aad_of(api_key), vault_key).decode()
    return Credentials(secret=secret, base_url=api_key.base_url)


async def rotate_master_key(session: AsyncSession, vault: Vault, new_master: crypto.MasterKey) -> int:
    """Re-wrap every data key not yet under ``new_master``; returns how many. Idempotent."""
    keyring = {**vault.keyring, new_master.key_id: new_master}
    rewrapped = 0
    for api_key in await repository.not_under_master_key(session, new_master.key_id):
        envelope = crypto.rewrap(keyring, envelope_of(api_key), aad_of(api_key), new_master)
        store_envelope(api_key, envelope)
        rewrapped += 1
    await session.flush()
    return rewrapped


async def choose_api_key(
    session: AsyncSession, *, owner_id: uuid.UUID, provider: ProviderKind, api_key_id: uuid.UUID | None
) -> ApiKey:
    """The key a request names, or the user's only key for ``provider``."""
    if api_key_id is not None:
        api_key = await get_api_key(session, owner_id=owner_id, key_id=api_key_id)
        if api_key.provider is not provider:
            raise BadUserInput(f"That API key is for {api_key.provider.value}, not {provider.value}.", field="apiKeyId")
        return api_key
    candidates = await repository.list_for_provider(session, owner_id, provider)
    if not candidates:
        raise BadUserInput(f"No API key stored for {provider.value}: add one with setApiKey first.", field="provider")
    if len(candidates) > 1:
        raise BadUserInput(
            f"You have {len(candidates)} {provider.value} keys: pass apiKeyId to choose one.", field="apiKeyId"
        )
    return candidates[0]


async def mark_api_key_used(session: AsyncSession, key_id: uuid.UUID) -> None:
    await repository.mark_used(session, key_id, utcnow())


async def open_vault_key(session: AsyncSession, vault: Vault, owner_id: uuid.UUID) -> bytes | None:
    """None when the owner has no vault passphrase; their open vault key; else VaultLocked."""
    if await repository.get_vault(session, owner_id) is None:
        return None
    return await vault.open_key(owner_id)
