from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.context import Context
from app.errors import NotFound


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id; another user's object is NOT_FOUND.")
    async def node(self, info: Info[Context, Any], id: relay.GlobalID) -> relay.Node | None:
        try:
            node = await id.resolve_node(info, required=False)
        except (ValueError, KeyError):  # a well-formed id naming no Node type we have
            node = None
        if node is None:
            raise NotFound("Object not found.")
        return node
