from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from app import migrate
from app.db import Database, create_engine
from app.models import metadata


def _downgrade_to_base(connection: Connection) -> None:
    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "base")


async def test_sqlite_upgrades_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await migrate.upgrade(url)
    assert await migrate.is_current(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
            assert {table.name for table in metadata.sorted_tables} <= tables
            await connection.run_sync(_downgrade_to_base)
            remaining = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert remaining <= {"alembic_version"}
    finally:
        await engine.dispose()
    await migrate.upgrade(url)
    assert await migrate.is_current(url)


async def test_postgres_schema_matches_the_models(db: Database, database_url: str) -> None:
    assert await migrate.is_current(database_url)
    async with db.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
        )
    assert diff == [], "the models changed without a migration: run `alembic revision --autogenerate`"
