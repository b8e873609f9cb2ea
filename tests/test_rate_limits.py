"""Rate limits against running servers: Redis counters (shared by instances) and memory (embedded)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.ratelimit.memory import MemoryCounters
from app.ratelimit.redis import RedisCounters
from tests.chats.test_files import PNG, upload
from tests.conftest import REDIS_URL, StartServer
from tests.fakes.upstream import FakeUpstream, Script
from tests.generation.helpers import MODELS, SEND, send, with_key
from tests.gql import SIGN_UP, GraphQLClient, error_codes, follow_stream
from tests.servers import ServerProcess, free_port

SIGN_IN = "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token } }"
REGENERATE = "mutation($id: ID!) { regenerateMessage(id: $id) { id } }"
STOP = "mutation($id: ID!) { stopGeneration(messageId: $id) { id status } }"


@pytest.fixture(autouse=True)
async def fresh_counters() -> None:
    """Other tests' servers count too (with generous limits): start every test from zero."""
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter("llm-aggregator:rate:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@asynccontextmanager
async def client_for(server: ServerProcess) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(http, server.graphql_url, server.ws_url)


async def post(api: GraphQLClient, query: str, variables: dict[str, Any], address: str | None = None) -> dict[str, Any]:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 (a local proxy): that is how a test speaks from elsewhere.
    return await api.execute(query, variables, headers={"X-Forwarded-For": address} if address else None)


def retry_after(body: dict[str, Any]) -> int:
    assert error_codes(body) == ["RATE_LIMITED"], body
    seconds = body["errors"][0]["extensions"]["retryAfter"]
    assert isinstance(seconds, int)
    return seconds


class TestSignIn:
    async def test_per_client_address(self, start_server: StartServer) -> None:
        server = start_server(name="auth-per-address", AUTH_ATTEMPTS_PER_MINUTE="3")
        async with client_for(server) as api:
            for n in range(3):
                body = await post(api, SIGN_UP, {"email": f"a{n}@example.com", "password": "long enough pw"})
                assert "errors" not in body, body
            refused = await post(api, SIGN_UP, {"email": "a3@example.com", "password": "long enough pw"})
            assert 1 <= retry_after(refused) <= 60
            assert refused["data"] is None
            # Another address is not held back, and the refused sign-up created nothing.
            elsewhere = await post(
                api, SIGN_UP, {"email": "a3@example.com", "password": "long enough pw"}, "203.0.113.7"
            )
            assert "errors" not in elsewhere, elsewhere
            assert (await post(api, "{ __typename }", {}))["data"] == {"__typename": "Query"}

    async def test_per_email_from_any_address(self, start_server: StartServer) -> None:
        server = start_server(name="auth-per-email", AUTH_ATTEMPTS_PER_MINUTE="3")
        variables = {"e": "target@example.com", "p": "guess"}
        async with client_for(server) as api:
            for n in range(3):
                body = await post(api, SIGN_IN, variables, f"198.51.100.{n + 1}")
                assert error_codes(body) == ["UNAUTHENTICATED"]
            retry_after(await post(api, SIGN_IN, variables, "198.51.100.9"))

    async def test_failures_slow_down_exponentially_until_a_success(self, start_server: StartServer) -> None:
        server = start_server(name="auth-backoff", AUTH_FREE_FAILURES="2", AUTH_MAX_LOCKOUT_SECONDS="2")
        async with client_for(server) as api:
            await post(api, SIGN_UP, {"email": "victim@example.com", "password": "the right one"})
            wrong = {"e": "victim@example.com", "p": "wrong"}
            right = {"e": "victim@example.com", "p": "the right one"}
            assert error_codes(await post(api, SIGN_IN, wrong)) == ["UNAUTHENTICATED"]
            assert error_codes(await post(api, SIGN_IN, wrong)) == ["UNAUTHENTICATED"]  # locks 1 s
            # Locked: even the right password waits, from any address.
            assert retry_after(await post(api, SIGN_IN, right, "192.0.2.44")) == 1
            await asyncio.sleep(1.1)
            assert error_codes(await post(api, SIGN_IN, wrong)) == ["UNAUTHENTICATED"]  # locks 2 s
            assert retry_after(await post(api, SIGN_IN, wrong)) == 2
            await asyncio.sleep(2.1)
            assert error_codes(await post(api, SIGN_IN, wrong)) == ["UNAUTHENTICATED"]  # 4 s, capped at 2
            assert retry_after(await post(api, SIGN_IN, wrong)) == 2
            await asyncio.sleep(2.1)
            assert "errors" not in await post(api, SIGN_IN, right)
            # A success forgets the failures.
            assert error_codes(await post(api, SIGN_IN, wrong)) == ["UNAUTHENTICATED"]
            assert "errors" not in await post(api, SIGN_IN, right)

    async def test_embedded_default_counts_in_memory(self, start_server: StartServer, tmp_path: Path) -> None:
        embedded = start_server(
            name="embedded-limits", DATABASE_URL="", REDIS_URL="", DATA_DIR=str(tmp_path), AUTH_ATTEMPTS_PER_MINUTE="2"
        )
        async with client_for(embedded) as api:
            for n in range(2):
                body = await post(api, SIGN_UP, {"email": f"e{n}@example.com", "password": "long enough"})
                assert "errors" not in body, body
            retry_after(await post(api, SIGN_UP, {"email": "e2@example.com", "password": "long enough"}))


class TestGenerations:
    async def test_messages_per_user_per_minute(self, start_server: StartServer) -> None:
        server = start_server(name="messages", MESSAGES_PER_MINUTE="3")
        async with client_for(server) as api:
            account, _ = await with_key(api)
            first = await send(api, account)
            await follow_stream(api.ws_url, account.token, first["assistantMessage"]["id"])  # then it can be redone
            await send(api, account)
            await api.data(REGENERATE, {"id": first["assistantMessage"]["id"]}, token=account.token)
            payload = {"content": "one more", "provider": "OPENAI", "model": MODELS["OPENAI"]}
            refused = await api.execute(SEND, {"input": payload}, token=account.token)
            assert 1 <= retry_after(refused) <= 60
            chats = await api.data("{ chats { edges { node { id } } } }", token=account.token)
            assert len(chats["chats"]["edges"]) == 2  # the refused message created nothing
            # Another user is not held back.
            other, _ = await with_key(api)
            await send(api, other)

    async def test_concurrent_generations_per_user(self, start_server: StartServer, upstream: FakeUpstream) -> None:
        server = start_server(name="concurrent", MAX_CONCURRENT_GENERATIONS="2")
        async with client_for(server) as api:
            account, key = await with_key(api)
            upstream.script(key, Script(first_delay=30), Script(first_delay=30))
            running = [(await send(api, account))["assistantMessage"]["id"] for _ in range(2)]
            payload = {"content": "a third", "provider": "OPENAI", "model": MODELS["OPENAI"]}
            refused = await api.execute(SEND, {"input": payload}, token=account.token)
            retry_after(refused)
            assert "2 of your answers" in refused["errors"][0]["message"]
            await api.data(STOP, {"id": running[0]}, token=account.token)
            await send(api, account)  # a slot is free again
            await api.data(STOP, {"id": running[1]}, token=account.token)


async def test_uploads_per_user_per_minute(start_server: StartServer) -> None:
    server = start_server(name="uploads", UPLOADS_PER_MINUTE="2")
    async with client_for(server) as api:
        account = await api.sign_up()
        for _ in range(2):
            assert "errors" not in (await upload(api, account, PNG, "a.png")).json()
        retry_after((await upload(api, account, PNG, "a.png")).json())


async def test_memory_counters_windows_and_holds() -> None:
    counters = MemoryCounters()
    assert (await counters.hit("k", 0.2))[0] == 1
    count, left = await counters.hit("k", 0.2)
    assert count == 2
    assert 0 < left <= 0.2
    await asyncio.sleep(0.25)
    assert (await counters.hit("k", 0.2))[0] == 1  # a new window
    await counters.hold("lock", 0.2)
    assert 0 < await counters.held_for("lock") <= 0.2
    await asyncio.sleep(0.25)
    assert await counters.held_for("lock") == 0
    await counters.hold("lock", 5)
    await counters.clear("lock", "k")
    assert await counters.held_for("lock") == 0
    assert (await counters.hit("k", 1))[0] == 1


async def test_an_unreachable_redis_does_not_lock_anyone_out() -> None:
    nobody = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        counters = RedisCounters(nobody)
        assert await counters.hit("k", 60) == (0, 60)
        await counters.hold("lock", 5)
        assert await counters.held_for("lock") == 0
        await counters.clear("k")
    finally:
        await nobody.aclose()
