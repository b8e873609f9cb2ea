from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.auth import service
from app.auth.types import AuthPayloadType, UserType
from app.context import Context
from app.graphql.permissions import IsAuthenticated, require_identity


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="Create an account and sign in.")
    async def sign_up(
        self, info: Info[Context, Any], email: str, password: str, name: str | None = None
    ) -> AuthPayloadType:
        infra = info.context.infra
        async with infra.db.transaction() as session:
            signed_in = await service.sign_up(session, infra.auth, email=email, password=password, name=name)
        return AuthPayloadType(token=signed_in.token, user=UserType.from_model(signed_in.user))

    @strawberry.mutation(description="Sign in; returns a new bearer token.")
    async def sign_in(self, info: Info[Context, Any], email: str, password: str) -> AuthPayloadType:
        infra = info.context.infra
        async with infra.db.transaction() as session:
            signed_in = await service.sign_in(session, infra.auth, email=email, password=password)
        return AuthPayloadType(token=signed_in.token, user=UserType.from_model(signed_in.user))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Revoke the token used.")
    async def sign_out(self, info: Info[Context, Any]) -> bool:
        identity = require_identity(info)
        async with info.context.db.transaction() as session:
            await service.sign_out(session, identity)
        return True

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Change the password; every other session is signed out.",
    )
    async def change_password(self, info: Info[Context, Any], current_password: str, new_password: str) -> bool:
        identity = require_identity(info)
        infra = info.context.infra
        async with infra.db.transaction() as session:
            await service.change_password(
                session, infra.auth, identity, current_password=current_password, new_password=new_password
            )
        return True

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Update the profile; omitted fields stay.")
    async def update_profile(self, info: Info[Context, Any], name: str | None = strawberry.UNSET) -> UserType:
        identity = require_identity(info)
        async with info.context.db.transaction() as session:
            if name is strawberry.UNSET:
                user = await service.get_user(session, identity.user_id)
            else:
                user = await service.rename_user(session, identity.user_id, name=name)
        return UserType.from_model(user)
