from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry
from strawberry import relay

from app.auth.models import User
from app.graphql.nodes import LoadedNode


@strawberry.type(name="User")
class UserType(LoadedNode):
    loader = "users"

    id: relay.NodeID[str]
    email: str
    name: str | None
    avatar_url: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, user: User) -> Self:
        return cls(id=str(user.id), email=user.email, name=user.name, avatar_url=None, created_at=user.created_at)


@strawberry.type(name="AuthPayload")
class AuthPayloadType:
    token: str
    user: UserType
