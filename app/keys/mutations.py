from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.context import Context
from app.graphql.ids import decode_id
from app.graphql.permissions import IsAuthenticated, require_identity
from app.keys import service
from app.keys.types import ApiKeyType
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
