from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.context import Context
from app.generation.streams import Final, follow
from app.generation.types import MessageDeltaType, MessageStreamEvent, final_event
from app.graphql.ids import decode_id
from app.graphql.permissions import require_identity


@strawberry.type
class GenerationSubscription:
    @strawberry.subscription(
        description="An answer as it is written: deltas from chunk `offset` on, then exactly one "
        "MessageCompleted or MessageFailed. Reconnect with offset = the last delta's index + count."
    )
    async def message_stream(
        self, info: Info[Context, Any], message_id: relay.GlobalID, offset: int | None = 0
    ) -> AsyncGenerator[MessageStreamEvent, None]:
        identity = require_identity(info)
        infra = info.context.infra
        stream = follow(
            infra.db,
            infra.broker,
            owner_id=identity.user_id,
            message_id=decode_id(message_id, "Message"),
            offset=offset or 0,
        )
        async for output in stream:
            if isinstance(output, Final):
                yield final_event(output.message)
            else:
                yield MessageDeltaType.from_delta(message_id, output)
