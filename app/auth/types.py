from __future__ import annotations

from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.auth.models import User
from app.context import Context
from app.graphql.nodes import LoadedNode
from app.storage.links import download_url


@strawberry.type(name="User")
class UserType(LoadedNode):
    loader = "users"

    id: relay.NodeID[str]
    email: str
    name: str | None
    created_at: datetime
    row: strawberry.Private[User]

    @strawberry.field(description="A short-lived link to the profile picture, if there is one.")
    async def avatar_url(self, info: Info[Context, Any]) -> str | None:
        if self.row.avatar_key is None or self.row.avatar_content_type is None:
            return None
        infra = info.context.infra
        return await download_url(
            infra.storage,
            secret_key=infra.auth.secret_key,
            base_url=str(info.context.request.base_url),
            kind="avatar",
            object_id=self.row.id,
            key=self.row.avatar_key,
            filename="avatar",
            content_type=self.row.avatar_content_type,
        )

    @classmethod
    def from_model(cls, user: User) -> Self:
        return cls(id=str(user.id), email=user.email, name=user.name, created_at=user.created_at, row=user)


@strawberry.type(name="AuthPayload")
class AuthPayloadType:
    token: str
    user: UserType
