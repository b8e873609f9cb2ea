"""DataLoaders over rows the viewer owns: one read session per batch, results in key order."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.db import Database


class _HasId(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


RowT = TypeVar("RowT", bound=_HasId)
Fetch = Callable[[AsyncSession, uuid.UUID, Sequence[uuid.UUID]], Awaitable[Sequence[RowT]]]


def owned_rows_loader(
    db: Database, owner_id: uuid.UUID | None, fetch: Fetch[RowT]
) -> DataLoader[uuid.UUID, RowT | None]:
    """Rows by id through ``fetch(session, owner_id, ids)``, which must filter by owner; None for misses."""

    async def load(ids: Sequence[uuid.UUID]) -> list[RowT | None]:
        if owner_id is None:
            return [None] * len(ids)
        async with db.read() as session:
            found = {row.id: row for row in await fetch(session, owner_id, ids)}
        return [found.get(row_id) for row_id in ids]

    return DataLoader(load_fn=load)
