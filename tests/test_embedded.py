"""The embedded default (SQLite, no settings): a smoke run of accounts and keys through a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.gql import GraphQLClient, error_codes
from tests.keys.test_api import API_KEYS, SET_KEY
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def embedded_server(upstream_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("embedded")
    process = ServerProcess(upstream_env, cwd=workdir, log_path=workdir / "server.log")
    yield process
    process.stop()


@pytest.fixture
async def embedded(embedded_server: ServerProcess) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(http, embedded_server.graphql_url, embedded_server.ws_url)


async def test_sign_up_set_key_and_list(embedded: GraphQLClient, embedded_server: ServerProcess) -> None:
    account = await embedded.sign_up(email="embedded@example.com")
    stored = await embedded.data(
        SET_KEY, {"provider": "ANTHROPIC", "key": "sk-ant-api03-embeddedkey000000000wxyz"}, token=account.token
    )
    assert stored["setApiKey"]["hint"] == "sk-ant-…wxyz"
    listed = await embedded.data(API_KEYS, token=account.token)
    assert [key["hint"] for key in listed["apiKeys"]] == ["sk-ant-…wxyz"]
    other = await embedded.sign_up()
    body = await embedded.execute(
        "mutation($id: ID!) { deleteApiKey(id: $id) }", {"id": stored["setApiKey"]["id"]}, token=other.token
    )
    assert error_codes(body) == ["NOT_FOUND"]
    ready = await embedded.http.get(f"{embedded_server.url}/readyz")
    assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}


async def test_duplicate_email_and_sign_in(embedded: GraphQLClient) -> None:
    account = await embedded.sign_up(email="Twice@Example.com")
    body = await embedded.execute('mutation { signUp(email: "twice@example.com", password: "long enough") { token } }')
    assert error_codes(body) == ["BAD_USER_INPUT"]
    signed_in = await embedded.data(
        'mutation($p: String!) { signIn(email: "TWICE@example.com", password: $p) { user { id } } }',
        {"p": account.password},
    )
    assert signed_in["signIn"]["user"]["id"] == account.user_id
