from __future__ import annotations

import uuid
from typing import Any

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types import Info

from app.auth import service
from app.auth.types import AuthPayloadType, UserType
from app.context import Context
from app.errors import BadUserInput, Unauthenticated
from app.graphql.permissions import IsAuthenticated, require_identity
from app.storage import files

AVATAR_MAX_BYTES = 2 * 1024 * 1024


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="Create an account and sign in.")
    async def sign_up(
        self, info: Info[Context, Any], email: str, password: str, name: str | None = None
    ) -> AuthPayloadType:
        infra = info.context.infra
        await infra.rate_limits.auth_attempt(address=info.context.client_address, email=email)
        async with infra.db.transaction() as session:
            signed_in = await service.sign_up(session, infra.auth, email=email, password=password, name=name)
        return AuthPayloadType(token=signed_in.token, user=UserType.from_model(signed_in.user))

    @strawberry.mutation(description="Sign in; returns a new bearer token.")
    async def sign_in(self, info: Info[Context, Any], email: str, password: str) -> AuthPayloadType:
        infra = info.context.infra
        await infra.rate_limits.auth_attempt(address=info.context.client_address, email=email)
        try:
            async with infra.db.transaction() as session:
                signed_in = await service.sign_in(session, infra.auth, email=email, password=password)
        except Unauthenticated:
            await infra.rate_limits.auth_failed(email)
            raise
        await infra.rate_limits.auth_succeeded(email)
        return AuthPayloadType(token=signed_in.token, user=UserType.from_model(signed_in.user))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Revoke the token used.")
    async def sign_out(self, info: Info[Context, Any]) -> bool:
        identity = require_identity(info)
        async with info.context.db.transaction() as session:
            await service.sign_out(session, identity)
        await info.context.infra.sockets.session_revoked(identity.session_id)
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
        await infra.sockets.other_sessions_revoked(identity.user_id, keep_session_id=identity.session_id)
        return True

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Update the profile; omitted fields stay.")
    async def update_profile(
        self,
        info: Info[Context, Any],
        name: str | None = strawberry.UNSET,
        avatar: Upload | None = strawberry.UNSET,
    ) -> UserType:
        identity = require_identity(info)
        infra = info.context.infra
        new_avatar: tuple[str, str] | None = None
        if avatar is not strawberry.UNSET and avatar is not None:
            upload: Any = avatar  # Starlette's UploadFile
            data = await files.read_upload(upload, AVATAR_MAX_BYTES)
            content_type = files.detect_content_type(data, "avatar")
            if content_type not in files.IMAGE_TYPES:
                raise BadUserInput("The avatar must be a PNG, JPEG, WebP or GIF image.", field="avatar")
            key = f"avatars/{identity.user_id}/{uuid.uuid4()}"
            await infra.storage.put(key, data, content_type)
            new_avatar = (key, content_type)
        previous: str | None = None
        async with infra.db.transaction() as session:
            user = await service.get_user(session, identity.user_id)
            if name is not strawberry.UNSET:
                user = await service.rename_user(session, identity.user_id, name=name)
            if new_avatar is not None:
                user, previous = await service.set_avatar(
                    session, identity.user_id, key=new_avatar[0], content_type=new_avatar[1]
                )
        if previous is not None:
            await files.delete_objects(infra.storage, [previous])
        return UserType.from_model(user)
