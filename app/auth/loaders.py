from __future__ import annotations

import uuid
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from app.auth import service
from app.auth.models import User
from app.db import Database


def users_loader(db: Database, viewer_id: uuid.UUID | None) -> DataLoader[uuid.UUID, User | None]:
    """Users by id, as this viewer may see them: only themselves."""

    async def load(user_ids: Sequence[uuid.UUID]) -> list[User | None]:
        visible = [user_id for user_id in user_ids if user_id == viewer_id]
        if not visible:
            return [None] * len(user_ids)
        async with db.read() as session:
            found = {user.id: user for user in await service.get_users(session, visible)}
        return [found.get(user_id) for user_id in user_ids]

    return DataLoader(load_fn=load)
