from __future__ import annotations

import uuid

from strawberry.dataloader import DataLoader

from app.db import Database
from app.graphql.loaders import owned_rows_loader
from app.keys import service
from app.keys.models import ApiKey


def api_keys_loader(db: Database, owner_id: uuid.UUID | None) -> DataLoader[uuid.UUID, ApiKey | None]:
    return owned_rows_loader(
        db, owner_id, lambda session, owner, ids: service.get_api_keys(session, owner_id=owner, key_ids=ids)
    )
