from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.context import Context
from app.graphql.permissions import IsAuthenticated, require_identity
from app.keys import passphrase as passphrase_service
from app.keys import service
from app.keys.models import ApiKey
from app.keys.types import ApiKeyType, ProviderType, VaultStatusType
from app.providers.base import PROVIDER_NAMES, ProviderKind


@strawberry.type
class KeysQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in user's stored keys.")
    async def api_keys(self, info: Info[Context, Any]) -> list[ApiKeyType]:
        identity = require_identity(info)
        async with info.context.db.read() as session:
            keys = await service.list_api_keys(session, owner_id=identity.user_id)
        return [ApiKeyType.from_model(key) for key in keys]

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="Your key vault: passphrase-locked or not, open or not."
    )
    async def vault(self, info: Info[Context, Any]) -> VaultStatusType:
        identity = require_identity(info)
        infra = info.context.infra
        async with infra.db.read() as session:
            state = await passphrase_service.vault_state(session, infra.vault, identity.user_id)
        return VaultStatusType.from_state(state)

    @strawberry.field(description="Every supported provider; `configured` when the signed-in user has a key for it.")
    async def providers(self, info: Info[Context, Any]) -> list[ProviderType]:
        first_keys: dict[ProviderKind, ApiKey] = {}
        if info.context.identity is not None:
            async with info.context.db.read() as session:
                keys = await service.list_api_keys(session, owner_id=info.context.identity.user_id)
            for key in keys:
                first_keys.setdefault(key.provider, key)
        return [
            ProviderType(kind=kind, name=name, configured=kind in first_keys, first_key=first_keys.get(kind))
            for kind, name in PROVIDER_NAMES.items()
        ]
