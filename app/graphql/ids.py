"""Opaque Relay global ids over our UUID primary keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TypeVar

from strawberry import relay
from strawberry.dataloader import DataLoader

from app.errors import NotFound

T = TypeVar("T")


def decode_id(global_id: relay.GlobalID, type_name: str) -> uuid.UUID:
    """The UUID behind a global id of ``type_name``; any other id is simply not found."""
    if global_id.type_name != type_name:
        raise NotFound(f"{type_name} not found.")
    try:
        return uuid.UUID(global_id.node_id)
    except ValueError:
        raise NotFound(f"{type_name} not found.") from None


def _parse_uuid(node_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(node_id)
    except ValueError:
        return None


async def load_nodes(loader: DataLoader[uuid.UUID, T | None], node_ids: Iterable[str]) -> list[T | None]:
    """Rows for Relay node ids through a per-request loader (which enforces ownership), in order."""
    parsed = [_parse_uuid(str(node_id)) for node_id in node_ids]
    wanted = [row_id for row_id in parsed if row_id is not None]
    loaded = dict(zip(wanted, await loader.load_many(wanted), strict=True))
    return [loaded.get(row_id) if row_id else None for row_id in parsed]
