from __future__ import annotations

import uuid
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from app.db import Database
from app.keys import service
from app.keys.models import ApiKey


def api_keys_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, ApiKey | None]:
    async def load(key_ids: Sequence[uuid.UUID]) -> list[ApiKey | None]:
        if owner_id is None:
            return [None] * len(key_ids)
        async with db.read() as session:
            found = {key.id: key for key in await service.get_api_keys(session, owner_id=owner_id, key_ids=key_ids)}
        return [found.get(key_id) for key_id in key_ids]

    return DataLoader(load_fn=load)
