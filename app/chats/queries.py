from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.chats import service
from app.chats.types import ChatConnection, ChatType
from app.context import Context
from app.graphql.ids import decode_id
from app.graphql.permissions import IsAuthenticated, require_identity


@strawberry.type
class ChatsQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Your chats, most recently updated first. `archived: true` lists the archive; "
        "`search` matches titles and message text, case-insensitively.",
    )
    async def chats(
        self,
        info: Info[Context, Any],
        first: int | None = None,
        after: str | None = None,
        archived: bool | None = None,
        search: str | None = None,
    ) -> ChatConnection:
        identity = require_identity(info)
        async with info.context.db.read() as session:
            page = await service.list_chats(
                session, owner_id=identity.user_id, first=first, after=after, archived=archived, search=search
            )
        return ChatConnection.from_page(page, after=after)

    @strawberry.field(permission_classes=[IsAuthenticated], description="One of your chats.")
    async def chat(self, info: Info[Context, Any], id: relay.GlobalID) -> ChatType | None:
        identity = require_identity(info)
        async with info.context.db.read() as session:
            chat = await service.get_chat(session, owner_id=identity.user_id, chat_id=decode_id(id, "Chat"))
        return ChatType.from_model(chat)
