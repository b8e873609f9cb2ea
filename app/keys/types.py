from __future__ import annotations

from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.context import Context
from app.graphql.nodes import LoadedNode
from app.keys import service
from app.keys.models import ApiKey
from app.keys.passphrase import VaultState
from app.providers.base import ModelInfo, ProviderKind
from app.providers.catalog import builtin_models

# Registers the domain enum itself with Strawberry, so one class serves ORM, services and GraphQL.
strawberry.enum(ProviderKind, name="ProviderKind")


@strawberry.type(name="Model")
class ModelType:
    id: str
    display_name: str | None
    context_window: int | None
    supports_vision: bool

    @classmethod
    def from_info(cls, model: ModelInfo) -> Self:
        return cls(
            id=model.id,
            display_name=model.display_name,
            context_window=model.context_window,
            supports_vision=model.supports_vision,
        )


async def models_of(info: Info[Context, Any], kind: ProviderKind, api_key: ApiKey | None) -> list[ModelType]:
    """The key's own model list (live, cached), or the built-in list when there is no key."""
    if api_key is None:
        models = builtin_models(kind)
    else:
        infra = info.context.infra
        models = await service.models_for_key(infra.vault, infra.provider_access, api_key)
    return [ModelType.from_info(model) for model in models]


@strawberry.type(name="Provider")
class ProviderType:
    kind: ProviderKind
    name: str
    configured: bool = strawberry.field(description="Whether the signed-in user has stored a key for it.")
    first_key: strawberry.Private[ApiKey | None] = None

    @strawberry.field(description="What your key for it can use (the built-in list when you have none).")
    async def models(self, info: Info[Context, Any]) -> list[ModelType]:
        return await models_of(info, self.kind, self.first_key)


@strawberry.type(name="ApiKey")
class ApiKeyType(LoadedNode):
    loader = "api_keys"

    id: relay.NodeID[str]
    provider: ProviderKind
    label: str | None
    base_url: str | None
    hint: str = strawberry.field(description="A masked form such as `sk-…abcd`; the key itself is never returned.")
    created_at: datetime
    last_used_at: datetime | None

    row: strawberry.Private[ApiKey]

    @strawberry.field(description="The models this key can use, as the provider lists them (cached ~10 min).")
    async def models(self, info: Info[Context, Any]) -> list[ModelType]:
        return await models_of(info, self.provider, self.row)

    @classmethod
    def from_model(cls, api_key: ApiKey) -> Self:
        return cls(
            id=str(api_key.id),
            provider=api_key.provider,
            label=api_key.label,
            base_url=api_key.base_url,
            hint=api_key.hint,
            created_at=api_key.created_at,
            last_used_at=api_key.last_used_at,
            row=api_key,
        )


@strawberry.type(name="VaultStatus")
class VaultStatusType:
    enabled: bool = strawberry.field(
        description="Whether a vault passphrase locks your keys (the server alone cannot use them)."
    )
    unlocked_until: datetime | None = strawberry.field(
        description="While the vault is open, when it locks again by itself; null when locked or not enabled."
    )

    @strawberry.field(description="Whether your keys can be used now (always, without a passphrase).")
    def unlocked(self) -> bool:
        return not self.enabled or self.unlocked_until is not None

    @classmethod
    def from_state(cls, state: VaultState) -> Self:
        return cls(enabled=state.enabled, unlocked_until=state.unlocked_until)
