from __future__ import annotations

import uuid

from strawberry.dataloader import DataLoader

from app.auth import service
from app.auth.models import User
from app.db import Database
from app.graphql.loaders import owned_rows_loader


def users_loader(db: Database, viewer_id: uuid.UUID | None) -> DataLoader[uuid.UUID, User | None]:
    """Users by id, as this viewer may see them: only themselves."""
    return owned_rows_loader(
        db, viewer_id, lambda session, viewer, ids: service.get_users(session, [i for i in ids if i == viewer])
    )
