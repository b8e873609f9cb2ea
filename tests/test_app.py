"""The process and its edges: probes, websocket authentication, start-up failures, embedded secrets."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import httpx
import pytest
import strawberry
from websockets.exceptions import ConnectionClosed

from app.graphql.errors import AppSchema
from tests.gql import GraphQLClient, ws_connect
from tests.servers import TEST_MASTER_KEY, TEST_SECRET_KEY, ServerProcess, free_port, run_cli


class TestProbes:
    async def test_healthz_and_readyz(self, client: GraphQLClient, server: ServerProcess) -> None:
        health = await client.http.get(f"{server.url}/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = await client.http.get(f"{server.url}/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "checks": {"database": "ok", "redis": "ok"}})

    async def test_readyz_is_503_while_a_dependency_is_down(self, server_env: dict[str, str], tmp_path: Path) -> None:
        # Redis "configured" on a loopback port where nothing listens.
        env = server_env | {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
        process = ServerProcess(env, cwd=tmp_path, log_path=tmp_path / "server.log")
        try:
            async with httpx.AsyncClient() as http:
                ready = await http.get(f"{process.url}/readyz")
                health = await http.get(f"{process.url}/healthz")
        finally:
            process.stop()
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "checks": {"database": "ok", "redis": "unavailable"}}
        assert health.status_code == 200


class TestWebsocketAuth:
    async def test_valid_token_is_acknowledged_and_can_query(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        async with ws_connect(client.ws_url, {"Authorization": f"Bearer {account.token}"}) as ws:
            assert await ws.receive() == {"type": "connection_ack"}
            operation = await ws.subscribe("{ me { email } }")
            assert await ws.receive() == {
                "id": operation,
                "type": "next",
                "payload": {"data": {"me": {"email": account.email}}},
            }
            assert await ws.receive() == {"id": operation, "type": "complete"}

    @pytest.mark.parametrize(
        "payload",
        [None, {}, {"authorization": "Bearer lla_forged"}, {"authorization": "Token abc"}],
        ids=["no-payload", "empty", "unknown-token", "wrong-scheme"],
    )
    async def test_rejected_connection_init_closes_with_4403(
        self, client: GraphQLClient, payload: dict[str, str] | None
    ) -> None:
        async with ws_connect(client.ws_url, payload) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403

    async def test_revoked_token_is_rejected(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        await client.data("mutation { signOut }", token=account.token)
        async with ws_connect(client.ws_url, {"authorization": f"Bearer {account.token}"}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


class TestStartUp:
    def test_unreachable_database_is_one_line_and_non_zero(self, tmp_path: Path) -> None:
        url = f"postgresql+asyncpg://app:s3cret-password@127.0.0.1:{free_port()}/app"
        result = run_cli(
            "serve",
            env={"DATABASE_URL": url, "SECRET_KEY": TEST_SECRET_KEY, "MASTER_KEY": TEST_MASTER_KEY},
            cwd=tmp_path,
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: cannot reach the database at postgresql+asyncpg://app:***@127.0.0.1")
        assert "s3cret-password" not in result.stderr

    @pytest.mark.parametrize("missing", ["SECRET_KEY", "MASTER_KEY"])
    def test_postgres_without_a_secret_names_the_variable(self, missing: str, tmp_path: Path) -> None:
        env = {
            "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/x",
            "SECRET_KEY": TEST_SECRET_KEY,
            "MASTER_KEY": TEST_MASTER_KEY,
        }
        del env[missing]
        result = run_cli("serve", env=env, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: {missing} is not set")
        assert not (tmp_path / "data").exists()

    def test_stale_schema_on_postgres_refuses_to_serve(self, tmp_path: Path) -> None:
        # The admin database has no alembic_version table, so it is not at the newest revision.
        env = {
            "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
            "SECRET_KEY": TEST_SECRET_KEY,
            "MASTER_KEY": TEST_MASTER_KEY,
        }
        result = run_cli("serve", env=env, cwd=tmp_path)
        assert result.returncode == 1
        assert "run `python -m app migrate`" in result.stderr


class TestEmbeddedSecrets:
    def test_generated_once_with_mode_0600_and_reused(self, tmp_path: Path) -> None:
        first = run_cli("migrate", env={}, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        data = tmp_path / "data"
        secrets = {name: (data / name).read_text() for name in ("secret_key", "master_key")}
        for name in secrets:
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
            assert len(secrets[name].strip()) >= 32
        assert secrets["secret_key"] != secrets["master_key"]
        assert (data / "app.db").is_file()
        second = run_cli("migrate", env={}, cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert {name: (data / name).read_text() for name in secrets} == secrets


class TestUnexpectedErrors:
    async def test_are_masked_for_the_client_and_logged_redacted(self, caplog: pytest.LogCaptureFixture) -> None:
        @strawberry.type
        class Query:
            @strawberry.field
            def boom(self) -> str:
                raise RuntimeError("upstream said: invalid api key sk-live-0123456789abcdef in SELECT users")

        schema = AppSchema(query=Query)
        with caplog.at_level(logging.ERROR, logger="app.graphql"):
            result = await schema.execute("{ boom }")
        assert result.errors is not None
        formatted = [error.formatted for error in result.errors]
        assert formatted == [
            {
                "message": "Internal server error.",
                "locations": [{"line": 1, "column": 3}],
                "path": ["boom"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ]
        assert "sk-live" not in json.dumps(formatted)
        assert len(caplog.records) == 1
        from app.logs import RedactingFilter

        record = caplog.records[0]
        RedactingFilter().filter(record)
        logged = record.getMessage() + (record.exc_text or "")
        assert "RuntimeError" in logged
        assert "sk-live-0123456789abcdef" not in logged
