from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.auth.models import User
from app.context import Context
from app.graphql.ids import load_nodes


@strawberry.type(name="User")
class UserType(relay.Node):
    id: relay.NodeID[str]
    email: str
    name: str | None
    avatar_url: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, user: User) -> Self:
        return cls(id=str(user.id), email=user.email, name=user.name, avatar_url=None, created_at=user.created_at)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls,
        *,
        info: Info[Context, Any],
        node_ids: Iterable[str],
        required: bool = False,  # noqa: ARG003
    ) -> list[Self | None]:
        rows = await load_nodes(info.context.loaders.users, node_ids)
        return [cls.from_model(row) if row else None for row in rows]


@strawberry.type(name="AuthPayload")
class AuthPayloadType:
    token: str
    user: UserType
