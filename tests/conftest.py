"""Shared fixtures: a throw-away PostgreSQL database migrated once, Redis, a real uvicorn server."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import migrate
from app.db import Database
from app.keys.service import Vault
from app.models import metadata
from tests import leaks
from tests.fakes.upstream import FakeUpstream
from tests.gql import GraphQLClient
from tests.servers import TEST_MASTER_KEY, TEST_SECRET_KEY, ServerProcess

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database for this run, migrated with Alembic once, dropped at the end."""
    name = f"lla_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    await migrate.upgrade(rendered)
    yield rendered
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(database_url)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
async def clean_tables(db: Database) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    async with db.transaction() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session", autouse=True)
def no_secret_leaks(upstream: FakeUpstream) -> Iterator[None]:
    """After the whole run: no password, passphrase, token or provider key in any log line or error."""
    handler = leaks.capture_logs()
    yield
    logging.getLogger().removeHandler(handler)
    known = leaks.secrets | upstream.seen_keys() | {TEST_MASTER_KEY, TEST_SECRET_KEY}
    texts = leaks.all_texts()
    leaks.summary = f"{len(known)} secrets searched in {len(texts) - 2} server logs, {len(leaks.log_lines)} "
    leaks.summary += f"in-process log records and {len(leaks.errors)} returned errors"
    found = leaks.find_leaks(known, texts)
    if found:
        pytest.fail("secrets leaked into logs or errors:\n" + "\n".join(sorted(set(found))))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if leaks.summary:
        terminalreporter.write_line(f"secret watch: {leaks.summary}")


@pytest.fixture(scope="session")
def upstream_env(upstream: FakeUpstream) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": upstream.openai_base_url,
        "GEMINI_BASE_URL": upstream.gemini_base_url,
        "ANTHROPIC_BASE_URL": upstream.url,
    }


@pytest.fixture(scope="session")
def server_env(
    database_url: str, upstream_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": TEST_SECRET_KEY,
        "MASTER_KEY": TEST_MASTER_KEY,
        "DATA_DIR": str(tmp_path_factory.mktemp("server-data")),
        "LOG_LEVEL": "INFO",
        **upstream_env,
    }


@pytest.fixture(scope="session")
def server(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("server")
    process = ServerProcess(server_env, cwd=workdir, log_path=workdir / "server.log")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def server_b(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("server-b")
    process = ServerProcess(server_env, cwd=workdir, log_path=workdir / "server.log")
    yield process
    process.stop()


@pytest.fixture
async def client_b(server_b: ServerProcess) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(http, server_b.graphql_url, server_b.ws_url)


StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start_server(server_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start app servers of the test's own (PostgreSQL + Redis unless overridden); all stop at the end."""
    started: list[ServerProcess] = []

    def start(name: str = "app", **overrides: str) -> ServerProcess:
        workdir = tmp_path / f"{name}-{len(started)}"
        workdir.mkdir()
        process = ServerProcess(server_env | overrides, cwd=workdir, log_path=workdir / "server.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(http, server.graphql_url, server.ws_url)


@pytest.fixture(scope="session")
def vault() -> Vault:
    return Vault.from_secrets(TEST_MASTER_KEY)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
