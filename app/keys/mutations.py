from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.context import Context
from app.graphql.ids import decode_id
from app.graphql.permissions import IsAuthenticated, require_identity
from app.keys import passphrase as passphrase_service
from app.keys import service
from app.keys.types import ApiKeyType, VaultStatusType
from app.providers.base import ProviderKind


@strawberry.type
class KeysMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Store a provider key, encrypted. The same provider, label and baseUrl again replaces it.",
    )
    async def set_api_key(
        self,
        info: Info[Context, Any],
        provider: ProviderKind,
        key: str,
        base_url: str | None = None,
        label: str | None = None,
    ) -> ApiKeyType:
        identity = require_identity(info)
        infra = info.context.infra
        # Checked with the provider before the transaction: no database session waits on an HTTP call.
        new_key = await service.prepare_key(
            provider=provider,
            key=key,
            base_url=base_url,
            label=label,
            allow_private=infra.settings.allow_private_endpoints,
            access=infra.provider_access,
        )
        async with infra.db.transaction() as session:
            api_key = await service.store_key(session, infra.vault, owner_id=identity.user_id, new_key=new_key)
        if new_key.models is not None:
            await service.remember_models(infra.provider_access, api_key, new_key.models)
        return ApiKeyType.from_model(api_key)

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Delete one of your keys.")
    async def delete_api_key(self, info: Info[Context, Any], id: relay.GlobalID) -> bool:
        identity = require_identity(info)
        key_id = decode_id(id, "ApiKey")
        async with info.context.db.transaction() as session:
            await service.delete_api_key(session, owner_id=identity.user_id, key_id=key_id)
        return True

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Lock your keys with a vault passphrase (at least 10 characters): the server alone can no "
        "longer use them, only while you keep the vault unlocked. Changing it needs currentPassphrase; "
        "passphrase: null removes it. Every key is re-wrapped; the vault is left open.",
    )
    async def set_vault_passphrase(
        self, info: Info[Context, Any], passphrase: str | None = None, current_passphrase: str | None = None
    ) -> VaultStatusType:
        identity = require_identity(info)
        infra = info.context.infra
        if current_passphrase is not None:
            await infra.rate_limits.passphrase_attempt(identity.user_id)
        try:
            async with infra.db.transaction() as session:
                vault_key = await passphrase_service.set_passphrase(
                    session,
                    infra.vault,
                    infra.vault_kdf,
                    owner_id=identity.user_id,
                    passphrase=passphrase,
                    current_passphrase=current_passphrase,
                )
        except passphrase_service.WrongPassphrase:
            await infra.rate_limits.passphrase_failed(identity.user_id)
            raise
        if vault_key is not None:
            await infra.vault.remember_vault_key(identity.user_id, vault_key)
        else:
            await infra.vault.forget_vault_key(identity.user_id)
        return await _vault_status(info)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Open your passphrase-locked vault for VAULT_UNLOCK_SECONDS (15 minutes by default).",
    )
    async def unlock_vault(self, info: Info[Context, Any], passphrase: str) -> VaultStatusType:
        identity = require_identity(info)
        infra = info.context.infra
        await infra.rate_limits.passphrase_attempt(identity.user_id)
        try:
            async with infra.db.read() as session:
                await passphrase_service.unlock(session, infra.vault, owner_id=identity.user_id, passphrase=passphrase)
        except passphrase_service.WrongPassphrase:
            await infra.rate_limits.passphrase_failed(identity.user_id)
            raise
        await infra.rate_limits.passphrase_succeeded(identity.user_id)
        return await _vault_status(info)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Lock your vault now: answers that need a key fail with FORBIDDEN until you unlock it.",
    )
    async def lock_vault(self, info: Info[Context, Any]) -> VaultStatusType:
        identity = require_identity(info)
        await info.context.infra.vault.forget_vault_key(identity.user_id)
        return await _vault_status(info)


async def _vault_status(info: Info[Context, Any]) -> VaultStatusType:
    identity = require_identity(info)
    infra = info.context.infra
    async with infra.db.read() as session:
        state = await passphrase_service.vault_state(session, infra.vault, identity.user_id)
    return VaultStatusType.from_state(state)
