"""Relay nodes backed by a per-request DataLoader (which also enforces ownership)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Self

from strawberry import relay
from strawberry.types import Info

from app.context import Context
from app.graphql.ids import load_nodes


class LoadedNode(relay.Node):
    """A Node type whose rows come from ``info.context.loaders.<loader>`` and ``from_model``."""

    loader: ClassVar[str]

    @classmethod
    def from_model(cls, row: Any) -> Self:
        raise NotImplementedError

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls,
        *,
        info: Info[Context, Any],
        node_ids: Iterable[str],
        required: bool = False,  # noqa: ARG003 - a missing node is null, then NOT_FOUND in `node`
    ) -> list[Self | None]:
        rows = await load_nodes(getattr(info.context.loaders, cls.loader), node_ids)
        return [cls.from_model(row) if row else None for row in rows]
