"""Websocket limits and session-bound sockets, and the per-operation timeout, against running servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import StartServer
from tests.fakes.upstream import SLOW_LIST_KEY_PREFIX, FakeUpstream, Script
from tests.generation.helpers import SET_KEY, send, with_key
from tests.gql import MESSAGE_STREAM, Account, GraphQLClient, TransportWS, error_codes, follow_stream, ws_connect
from tests.servers import ServerProcess

ALLOWED_ORIGIN = "https://app.example.test"
CHANGE_PASSWORD = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }"
SIGN_IN = "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token } }"


@pytest.fixture(scope="module")
def tight(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the websocket timers shortened, so the tests wait fractions of a second."""
    workdir = tmp_path_factory.mktemp("tight")
    env = server_env | {
        "WS_INIT_TIMEOUT_SECONDS": "0.5",
        "WS_PING_INTERVAL_SECONDS": "0.5",
        "WS_PING_TIMEOUT_SECONDS": "0.5",
        "CORS_ORIGINS": ALLOWED_ORIGIN,
    }
    process = ServerProcess(env, cwd=workdir, log_path=workdir / "server.log")
    yield process
    process.stop()


@pytest.fixture
async def api(tight: ServerProcess) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(http, tight.graphql_url, tight.ws_url)


@pytest.fixture
async def waiting(api: GraphQLClient, upstream: FakeUpstream) -> AsyncIterator[tuple[Account, str]]:
    """An account and its answer that has not started yet: its stream stays open until stopped."""
    account, key = await with_key(api)
    upstream.script(key, Script(first_delay=30))
    message_id = (await send(api, account))["assistantMessage"]["id"]
    yield account, message_id
    stop = "mutation($id: ID!) { stopGeneration(messageId: $id) { id } }"
    await api.data(stop, {"id": message_id}, token=account.token)


async def drain(ws: TransportWS) -> None:
    """Read until the server closes the socket (at most 5 s)."""
    async with asyncio.timeout(5):
        while True:
            await ws.receive()


async def close_code(ws: TransportWS) -> int:
    """The code the server closes the socket with."""
    with pytest.raises(ConnectionClosed) as closed:
        await drain(ws)
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code


async def acked(ws: TransportWS) -> TransportWS:
    assert (await ws.receive())["type"] == "connection_ack"
    return ws


def bearer(account: Account | str) -> dict[str, str]:
    token = account if isinstance(account, str) else account.token
    return {"authorization": f"Bearer {token}"}


class TestProtocol:
    async def test_no_connection_init_in_time_closes_4408(self, tight: ServerProcess) -> None:
        protocols = [websockets.Subprotocol("graphql-transport-ws")]
        async with websockets.connect(tight.ws_url, subprotocols=protocols) as conn:
            ws = TransportWS(conn)
            assert await close_code(ws) == 4408

    async def test_only_graphql_transport_ws(self, tight: ServerProcess) -> None:
        protocols = [websockets.Subprotocol("graphql-ws")]  # the legacy protocol
        async with websockets.connect(tight.ws_url, subprotocols=protocols) as conn:
            assert conn.subprotocol is None
            assert await close_code(TransportWS(conn)) == 4406

    async def test_close_codes(self, api: GraphQLClient, waiting: tuple[Account, str]) -> None:
        account, message_id = waiting
        async with ws_connect(api.ws_url, bearer(account)) as ws:
            await ws.connection.send("not json")
            assert await close_code(ws) == 4400
        async with ws_connect(api.ws_url, bearer(account)) as ws:
            await acked(ws)
            await ws.send({"type": "connection_init", "payload": bearer(account)})
            assert await close_code(ws) == 4429
        async with ws_connect(api.ws_url, bearer(account)) as ws:
            await acked(ws)
            payload = {"query": MESSAGE_STREAM, "variables": {"id": message_id}}
            await ws.send({"id": "1", "type": "subscribe", "payload": payload})
            await ws.send({"id": "1", "type": "subscribe", "payload": payload})
            assert await close_code(ws) == 4409
        protocols = [websockets.Subprotocol("graphql-transport-ws")]
        async with websockets.connect(api.ws_url, subprotocols=protocols) as conn:
            ws = TransportWS(conn)
            await ws.subscribe("{ __typename }")
            assert await close_code(ws) == 4401

    async def test_frames_over_64_kb_close_the_socket(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        async with ws_connect(api.ws_url, bearer(account)) as ws:
            await acked(ws)
            await ws.subscribe("{ __typename }" + " " * (64 * 1024))
            assert await close_code(ws) == 1009
        async with ws_connect(api.ws_url, bearer(account)) as ws:  # just under the limit is fine
            await acked(ws)
            operation = await ws.subscribe("{ __typename }" + " " * (60 * 1024))
            assert await ws.receive() == {"id": operation, "type": "next", "payload": {"data": {"__typename": "Query"}}}

    async def test_at_most_20_operations_per_connection(self, api: GraphQLClient, waiting: tuple[Account, str]) -> None:
        account, message_id = waiting
        async with ws_connect(api.ws_url, bearer(account)) as ws:
            await acked(ws)
            running = [await ws.subscribe(MESSAGE_STREAM, {"id": message_id}) for _ in range(20)]
            refused = await ws.subscribe(MESSAGE_STREAM, {"id": message_id})
            answer = await ws.receive()
            assert answer["id"] == refused
            assert answer["type"] == "error"
            assert [error["extensions"]["code"] for error in answer["payload"]] == ["RATE_LIMITED"]
            await ws.send({"id": running[0], "type": "complete"})
            await asyncio.sleep(0.2)
            await ws.subscribe("{ __typename }")
            assert (await ws.receive())["payload"] == {"data": {"__typename": "Query"}}


class TestOrigins:
    @pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, None, "same-origin"])
    async def test_listed_same_origin_and_non_browser_clients_connect(
        self, api: GraphQLClient, tight: ServerProcess, origin: str | None
    ) -> None:
        account = await api.sign_up()
        if origin == "same-origin":
            origin = tight.url
        protocols = [websockets.Subprotocol("graphql-transport-ws")]
        headers = {"Origin": origin} if origin else None
        async with websockets.connect(
            tight.ws_url, subprotocols=protocols, additional_headers=headers, origin=None
        ) as conn:
            await conn.send(json.dumps({"type": "connection_init", "payload": bearer(account)}))
            assert json.loads(await conn.recv())["type"] == "connection_ack"

    async def test_other_origins_are_refused_at_the_handshake(self, tight: ServerProcess) -> None:
        protocols = [websockets.Subprotocol("graphql-transport-ws")]
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(
                tight.ws_url, subprotocols=protocols, additional_headers={"Origin": "https://evil.example.test"}
            ):
                pass
        assert refused.value.response.status_code == 403


class TestSessionsCloseTheirSockets:
    async def test_sign_out_closes_that_sessions_sockets_only(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        other = (await api.data(SIGN_IN, {"e": account.email, "p": account.password}))["signIn"]["token"]
        async with (
            ws_connect(api.ws_url, bearer(account)) as doomed,
            ws_connect(api.ws_url, bearer(other)) as kept,
        ):
            await acked(doomed)
            await acked(kept)
            await api.data("mutation { signOut }", token=account.token)
            assert await close_code(doomed) == 4403
            await kept.subscribe("{ __typename }")
            assert (await kept.receive())["payload"] == {"data": {"__typename": "Query"}}

    async def test_change_password_closes_the_other_sessions_sockets(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        other = (await api.data(SIGN_IN, {"e": account.email, "p": account.password}))["signIn"]["token"]
        async with (
            ws_connect(api.ws_url, bearer(account)) as own,
            ws_connect(api.ws_url, bearer(other)) as doomed,
        ):
            await acked(own)
            await acked(doomed)
            variables = {"c": account.password, "n": "a brand new passphrase"}
            await api.data(CHANGE_PASSWORD, variables, token=account.token)
            assert await close_code(doomed) == 4403
            await own.subscribe("{ __typename }")
            assert (await own.receive())["payload"] == {"data": {"__typename": "Query"}}

    async def test_sign_out_on_one_instance_closes_the_socket_on_another(
        self, api: GraphQLClient, server: ServerProcess
    ) -> None:
        account = await api.sign_up()
        async with ws_connect(server.ws_url, bearer(account)) as elsewhere:
            await acked(elsewhere)
            await api.data("mutation { signOut }", token=account.token)
            assert await close_code(elsewhere) == 4403

    async def test_an_expiring_session_closes_its_sockets(self, start_server: StartServer) -> None:
        short = start_server(name="short-sessions", SESSION_TTL_SECONDS="2")
        async with httpx.AsyncClient(timeout=30) as http:
            account = await GraphQLClient(http, short.graphql_url, short.ws_url).sign_up()
        async with ws_connect(short.ws_url, bearer(account)) as ws:
            await acked(ws)
            assert await close_code(ws) == 4403


class TestDeadPeers:
    async def test_a_peer_that_stops_answering_pings_is_dropped(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        async with ws_connect(api.ws_url, bearer(account)) as alive, ws_connect(api.ws_url, bearer(account)) as dead:
            await acked(alive)
            await acked(dead)
            transport = dead.connection.transport
            transport.pause_reading()  # no more pongs from this one, as from a peer that vanished
            await asyncio.sleep(3)
            transport.resume_reading()
            with pytest.raises(ConnectionClosed):
                await drain(dead)
            await alive.subscribe("{ __typename }")
            assert (await alive.receive())["payload"] == {"data": {"__typename": "Query"}}


class TestOperationTimeout:
    async def test_a_slow_mutation_is_stopped_and_leaves_nothing(
        self, start_server: StartServer, upstream: FakeUpstream
    ) -> None:
        impatient = start_server(name="impatient", OPERATION_TIMEOUT_SECONDS="0.5")
        async with httpx.AsyncClient(timeout=30) as http:
            api = GraphQLClient(http, impatient.graphql_url, impatient.ws_url)
            account = await api.sign_up()
            slow_key = f"{SLOW_LIST_KEY_PREFIX}sk-0123456789abcdef"
            body = await api.execute(SET_KEY, {"p": "OPENAI", "k": slow_key}, token=account.token)
            assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
            assert body["errors"][0]["message"] == "The operation took longer than 0.5 s and was stopped."
            assert slow_key not in json.dumps(body)
            assert await api.data("{ apiKeys { id } }", token=account.token) == {"apiKeys": []}

            # Subscriptions are exempt: this answer streams for longer than the timeout.
            account, key = await with_key(api)
            upstream.script(key, Script(token_count=8, delay=0.15))
            message_id = (await send(api, account))["assistantMessage"]["id"]
            events = await follow_stream(api.ws_url, account.token, message_id)
            assert events[-1]["__typename"] == "MessageCompleted"
            assert len(events) > 2
