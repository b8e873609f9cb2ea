"""Command line: ``python -m app serve|migrate|export-schema|rotate-master-key``."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from pathlib import Path

from app.config import ConfigError, Settings, load_settings, write_embedded_secret
from app.logs import configure_logging


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201 - the CLI's one line for the operator
    return 1


def _describe_db(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def _reason(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def cmd_serve(settings: Settings, host: str, port: int, workers: int) -> int:
    import uvicorn

    from app import migrate
    from app.main import create_app

    if workers > 1 and (settings.is_embedded or not settings.redis_url):
        # Each worker is an instance; instances share streams only through PostgreSQL and Redis.
        return _fail("--workers above 1 needs DATABASE_URL on PostgreSQL and REDIS_URL")

    try:
        if settings.is_embedded:
            asyncio.run(migrate.upgrade(settings.resolved_database_url))
        elif not asyncio.run(migrate.is_current(settings.resolved_database_url)):
            return _fail("the database schema is not current: run `python -m app migrate` first")
    except (OSError, Exception) as error:
        return _fail(f"cannot reach the database at {_describe_db(settings)}: {_reason(error)}")
    uvicorn.run(
        "app.main:app_from_environment" if workers > 1 else create_app(settings),
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
        # Token deltas are tiny: compressing each costs more CPU than it saves bytes.
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_ping_timeout_seconds,
    )
    return 0


def cmd_migrate(settings: Settings) -> int:
    from app import migrate

    try:
        asyncio.run(migrate.upgrade(settings.resolved_database_url))
    except (OSError, Exception) as error:
        return _fail(f"migration failed on {_describe_db(settings)}: {_reason(error)}")
    print("database is at the newest revision")  # noqa: T201
    return 0


def cmd_export_schema(output: Path) -> int:
    from app.schema import schema

    output.write_text(str(schema).rstrip("\n") + "\n")
    print(f"wrote {output}")  # noqa: T201
    return 0


def cmd_rotate_master_key(settings: Settings) -> int:
    import app.models  # noqa: F401 - every table, so foreign keys resolve
    from app.db import Database
    from app.keys import crypto
    from app.keys import service as keys_service

    new_secret = os.environ.get("NEW_MASTER_KEY")
    if new_secret is None:
        if not settings.is_embedded:
            return _fail("set NEW_MASTER_KEY to the new master key (at least 32 characters)")
        new_secret = secrets.token_urlsafe(48)
    if len(new_secret) < 32:
        return _fail("NEW_MASTER_KEY is too short: use at least 32 characters")
    vault = keys_service.Vault.from_secrets(
        settings.require_master_key(),
        *(s.get_secret_value() for s in settings.master_key_previous),
    )
    new_master = crypto.MasterKey.from_secret(new_secret)

    async def rotate() -> int:
        db = Database.from_url(settings.resolved_database_url)
        try:
            async with db.transaction() as session:
                return await keys_service.rotate_master_key(session, vault, new_master)
        finally:
            await db.dispose()

    try:
        count = asyncio.run(rotate())
    except crypto.DecryptionError as error:
        return _fail(f"nothing changed: a stored key does not open with the configured master keys ({error})")
    except (OSError, Exception) as error:
        return _fail(f"nothing changed: {_reason(error)}")
    if settings.is_embedded and "NEW_MASTER_KEY" not in os.environ:
        write_embedded_secret(settings.data_dir, "master_key", new_secret)
        print(f"re-wrapped {count} key(s); the new master key is in {settings.data_dir / 'master_key'}")  # noqa: T201
    else:
        print(  # noqa: T201
            f"re-wrapped {count} key(s) under master key {new_master.key_id}: set MASTER_KEY to the new key "
            "(and the old one in MASTER_KEY_PREVIOUS until every instance has restarted)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="LLM API Aggregator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (applies migrations on the embedded default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="processes (PostgreSQL + Redis deployments)")
    commands.add_parser("migrate", help="apply pending database migrations")
    export = commands.add_parser("export-schema", help="write the GraphQL schema as SDL")
    export.add_argument("--output", type=Path, default=Path("schema.graphql"))
    commands.add_parser("rotate-master-key", help="re-wrap every stored key under a new master key")
    args = parser.parse_args(argv)

    if args.command == "export-schema":
        return cmd_export_schema(args.output)
    try:
        settings = load_settings()
    except ConfigError as error:
        return _fail(str(error))
    configure_logging(settings.log_level)
    if args.command == "serve":
        return cmd_serve(settings, args.host, args.port, args.workers)
    if args.command == "migrate":
        return cmd_migrate(settings)
    return cmd_rotate_master_key(settings)


if __name__ == "__main__":
    sys.exit(main())
