from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.auth.types import UserType
from app.context import Context


@strawberry.type
class AuthQuery:
    @strawberry.field(description="The signed-in user; null when signed out.")
    async def me(self, info: Info[Context, Any]) -> UserType | None:
        identity = info.context.identity
        if identity is None:
            return None
        user = await info.context.loaders.users.load(identity.user_id)
        return UserType.from_model(user) if user else None
