from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.gql import GraphQLClient
from tests.servers import ServerProcess


@pytest.fixture(scope="session")
def embedded_server(upstream_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("embedded-streaming")
    process = ServerProcess(upstream_env, cwd=workdir, log_path=workdir / "server.log")
    yield process
    process.stop()


@pytest.fixture(params=["postgres+redis", "embedded"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[GraphQLClient]:
    server: ServerProcess = request.getfixturevalue(
        "server" if request.param == "postgres+redis" else "embedded_server"
    )
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(http, server.graphql_url, server.ws_url)
