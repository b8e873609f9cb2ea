"""Streams that survive: stop, regenerate, provider faults and retries, disconnects, slow clients,
instance crashes, SIGTERM and Redis outages, each with real processes and real faults."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.fakes.upstream import FakeUpstream, Script
from tests.faults import FaultProxy, RedisServer
from tests.generation.helpers import MESSAGE, assert_contiguous, send, with_key
from tests.gql import MESSAGE_STREAM, GraphQLClient, TransportWS, error_codes, follow_stream, ws_connect
from tests.servers import ServerProcess

STOP = "mutation($id: ID!) { stopGeneration(messageId: $id) { id status content error } }"
REGENERATE = "mutation($id: ID!) { regenerateMessage(id: $id) { id status parentId role } }"
BRANCH = "query($id: ID!) { chat(id: $id) { messages { edges { node { id content } } } } }"
FAST_FAULTS = {
    "GENERATION_LEASE_SECONDS": "1.5",
    "STALL_TIMEOUT_SECONDS": "1.5",
    "RETRY_BASE_DELAY_SECONDS": "0.1",
    "SHUTDOWN_GRACE_SECONDS": "1",
}
StartServer = Callable[..., ServerProcess]


def expected(count: int, start: int = 0) -> str:
    return "".join(f"t{i} " for i in range(start, count))


async def stored(api: GraphQLClient, token: str, message_id: str) -> dict[str, Any]:
    node: dict[str, Any] = (await api.data(MESSAGE, {"id": message_id}, token=token))["node"]
    return node


async def client_for(http: httpx.AsyncClient, server: ServerProcess) -> GraphQLClient:
    return GraphQLClient(http, server.graphql_url, server.ws_url)


class TestStopGeneration:
    async def test_stop_from_another_instance_cancels_upstream_and_keeps_the_text(
        self, client: GraphQLClient, client_b: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(client)
        upstream.script(key, Script(token_count=400, delay=0.02))
        sent = await send(client, account)  # runs on instance A
        message_id = sent["assistantMessage"]["id"]

        async def stop_soon() -> dict[str, Any]:
            await asyncio.sleep(0.6)
            data = await client_b.data(STOP, {"id": message_id}, token=account.token)  # asked on instance B
            result: dict[str, Any] = data["stopGeneration"]
            return result

        events, stopped = await asyncio.gather(follow_stream(client.ws_url, account.token, message_id), stop_soon())
        text = assert_contiguous(events)
        assert stopped["status"] == "CANCELLED"
        assert stopped["error"] is None
        assert 0 < len(stopped["content"]) < len(expected(400))
        assert events[-1]["__typename"] == "MessageCompleted"
        assert events[-1]["message"]["status"] == "CANCELLED"
        assert text == stopped["content"] == events[-1]["message"]["content"]
        assert expected(400).startswith(text)
        await asyncio.sleep(0.2)
        assert upstream.aborted(key), "the upstream request was not cancelled"

    async def test_stopping_a_finished_answer_changes_nothing(
        self, client: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(client)
        upstream.script(key, Script(token_count=3))
        sent = await send(client, account)
        await follow_stream(client.ws_url, account.token, sent["assistantMessage"]["id"])
        again = await client.data(STOP, {"id": sent["assistantMessage"]["id"]}, token=account.token)
        assert again["stopGeneration"]["status"] == "COMPLETE"
        assert again["stopGeneration"]["content"] == expected(3)

    async def test_only_the_owner_and_only_answers(self, client: GraphQLClient, upstream: FakeUpstream) -> None:
        alice, key = await with_key(client)
        bob = await client.sign_up()
        upstream.script(key, Script(token_count=60, delay=0.02))
        sent = await send(client, alice)
        other = await client.execute(STOP, {"id": sent["assistantMessage"]["id"]}, token=bob.token)
        assert error_codes(other) == ["NOT_FOUND"]
        question = await client.execute(STOP, {"id": sent["userMessage"]["id"]}, token=alice.token)
        assert error_codes(question) == ["BAD_USER_INPUT"]
        events = await follow_stream(client.ws_url, alice.token, sent["assistantMessage"]["id"])
        assert events[-1]["message"]["status"] == "COMPLETE"


class TestRegenerate:
    async def test_a_sibling_answer_becomes_the_active_branch_and_the_old_one_stays(
        self, client: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(client)
        upstream.script(key, Script(tokens=["first"]), Script(tokens=["second"]))
        sent = await send(client, account, content="Q", temperature=0.5)
        await follow_stream(client.ws_url, account.token, sent["assistantMessage"]["id"])
        again = (await client.data(REGENERATE, {"id": sent["assistantMessage"]["id"]}, token=account.token))[
            "regenerateMessage"
        ]
        assert again["id"] != sent["assistantMessage"]["id"]
        assert (again["parentId"], again["role"], again["status"]) == (
            sent["userMessage"]["id"],
            "ASSISTANT",
            "PENDING",
        )
        events = await follow_stream(client.ws_url, account.token, again["id"])
        assert assert_contiguous(events) == "second"
        branch = (await client.data(BRANCH, {"id": sent["chat"]["id"]}, token=account.token))["chat"]["messages"]
        assert [edge["node"]["content"] for edge in branch["edges"]] == ["Q", "second"]
        assert (await stored(client, account.token, sent["assistantMessage"]["id"]))["content"] == "first"
        requests = upstream.requests(key)
        assert requests[0].turns == requests[1].turns == [("user", "Q")]
        assert requests[1].temperature == 0.5

    async def test_bad_requests(self, client: GraphQLClient, upstream: FakeUpstream) -> None:
        alice, key = await with_key(client)
        bob = await client.sign_up()
        upstream.script(key, Script(token_count=80, delay=0.02))
        sent = await send(client, alice)
        streaming = await client.execute(REGENERATE, {"id": sent["assistantMessage"]["id"]}, token=alice.token)
        assert error_codes(streaming) == ["BAD_USER_INPUT"]
        other = await client.execute(REGENERATE, {"id": sent["assistantMessage"]["id"]}, token=bob.token)
        assert error_codes(other) == ["NOT_FOUND"]
        await follow_stream(client.ws_url, alice.token, sent["assistantMessage"]["id"])


class TestProviderFaults:
    async def test_429_then_success_completes(self, client: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(client)
        upstream.script(key, Script(status=429, retry_after=0.3), Script(token_count=5))
        started = time.monotonic()
        sent = await send(client, account)
        events = await follow_stream(client.ws_url, account.token, sent["assistantMessage"]["id"])
        assert assert_contiguous(events) == expected(5)
        assert events[-1]["message"]["status"] == "COMPLETE"
        assert len(upstream.requests(key)) == 2
        assert time.monotonic() - started >= 0.3  # Retry-After was honoured

    async def test_429_three_times_fails_after_two_retries(self, client: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(client)
        upstream.script(key, *(Script(status=429, retry_after=0.1) for _ in range(3)), Script(token_count=5))
        sent = await send(client, account)
        events = await follow_stream(client.ws_url, account.token, sent["assistantMessage"]["id"])
        assert [e["__typename"] for e in events] == ["MessageFailed"]
        assert events[0]["error"] == "The provider is rate limiting this key (HTTP 429)."
        assert len(upstream.requests(key)) == 3

    async def test_401_fails_without_retrying(self, client: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(client)
        upstream.script(key, Script(status=401), Script(token_count=5))
        sent = await send(client, account)
        events = await follow_stream(client.ws_url, account.token, sent["assistantMessage"]["id"])
        assert [(e["__typename"], e["code"]) for e in events] == [("MessageFailed", "PROVIDER_ERROR")]
        assert events[0]["message"]["status"] == "FAILED"
        assert len(upstream.requests(key)) == 1

    @pytest.mark.parametrize("status", [500, 503])
    async def test_5xx_before_the_first_token_is_retried(
        self, client: GraphQLClient, upstream: FakeUpstream, status: int
    ) -> None:
        account, key = await with_key(client)
        upstream.script(key, Script(status=status), Script(token_count=6))
        sent = await send(client, account)
        events = await follow_stream(client.ws_url, account.token, sent["assistantMessage"]["id"])
        assert assert_contiguous(events) == expected(6)
        assert events[-1]["message"]["status"] == "COMPLETE"
        assert len(upstream.requests(key)) == 2

    async def test_a_dropped_connection_after_k_tokens_fails_and_keeps_them(
        self, client: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(client)
        upstream.script(key, Script(token_count=30, delay=0.01, drop_after=12), Script(token_count=30))
        sent = await send(client, account)
        events = await follow_stream(client.ws_url, account.token, sent["assistantMessage"]["id"])
        assert assert_contiguous(events) == expected(12)
        final = events[-1]
        assert (final["__typename"], final["code"], final["message"]["status"]) == (
            "MessageFailed",
            "PROVIDER_ERROR",
            "FAILED",
        )
        assert final["message"]["content"] == expected(12)
        assert final["error"] == "The provider's stream broke off."
        assert len(upstream.requests(key)) == 1  # never retried after the first token: it would bill twice

    async def test_a_stall_fails_with_provider_stalled(self, start_server: StartServer, upstream: FakeUpstream) -> None:
        server = start_server(**FAST_FAULTS)
        async with httpx.AsyncClient(timeout=30) as http:
            api = await client_for(http, server)
            account, key = await with_key(api)
            upstream.script(key, Script(token_count=20, delay=0.01, stall_after=4))
            sent = await send(api, account)
            events = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        assert assert_contiguous(events) == expected(4)
        assert events[-1]["error"] == "The provider stalled: nothing arrived for too long."
        assert events[-1]["message"]["status"] == "FAILED"


class TestDisconnects:
    async def test_a_client_that_reconnects_with_its_offset_gets_the_rest_exactly_once(
        self, client: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(client)
        upstream.script(key, Script(token_count=80, delay=0.015))
        sent = await send(client, account)
        message_id = sent["assistantMessage"]["id"]
        first = await follow_stream(client.ws_url, account.token, message_id, limit=10)  # then hangs up
        held = first[-1]["index"] + first[-1]["count"]
        await asyncio.sleep(0.3)  # the generation goes on meanwhile
        rest = await follow_stream(client.ws_url, account.token, message_id, offset=held)
        assert rest[0]["index"] == held
        text = assert_contiguous(first + rest[:-1] + [rest[-1]])
        assert text == expected(80) == rest[-1]["message"]["content"]

    async def test_a_subscriber_that_stops_reading_slows_no_one(
        self, start_server: StartServer, upstream: FakeUpstream
    ) -> None:
        server = start_server(name="slow-reader")
        async with httpx.AsyncClient(timeout=30) as http:
            api = await client_for(http, server)
            account, key = await with_key(api)
            chunk = "x" * 2000
            upstream.script(key, Script(tokens=[chunk] * 1500, delay=0.002))
            rss_before = _rss_mib(server)
            sent = await send(api, account)
            message_id = sent["assistantMessage"]["id"]
            # A client that subscribes and then never reads: its socket buffers fill and stay full.
            stuck = await websockets.connect(
                api.ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], max_queue=1, max_size=None
            )
            await stuck.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {account.token}"}})
            )
            await stuck.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": MESSAGE_STREAM, "variables": {"id": message_id}},
                    }
                )
            )
            started = time.monotonic()
            readers = await asyncio.gather(*(follow_stream(api.ws_url, account.token, message_id) for _ in range(3)))
            elapsed = time.monotonic() - started
            rss_after = _rss_mib(server)
            await stuck.close()
        for events in readers:
            assert assert_contiguous(events) == chunk * 1500
        assert elapsed < 15, f"readers took {elapsed:.1f}s for a ~3s stream"
        # 3 MB of text went by; a subscriber that reads nothing must not make the server hold much more.
        assert rss_after - rss_before < 120, (rss_before, rss_after)


async def _drain(ws: TransportWS) -> None:
    while True:
        await ws.receive()


def _rss_mib(server: ServerProcess) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class TestCrashes:
    async def test_kill_9_leaves_interrupted_answers_and_spares_a_live_instance(
        self, start_server: StartServer, upstream: FakeUpstream
    ) -> None:
        a = start_server(name="a", **FAST_FAULTS)
        b = start_server(name="b", **FAST_FAULTS)
        async with httpx.AsyncClient(timeout=30) as http:
            api_a, api_b = await client_for(http, a), await client_for(http, b)
            account, key = await with_key(api_a)
            upstream.script(key, Script(token_count=400, delay=0.02), Script(token_count=250, delay=0.02))
            doomed = await send(api_a, account)  # generated on A
            survivor = await send(api_b, account, content="another")  # generated on B
            doomed_id, survivor_id = doomed["assistantMessage"]["id"], survivor["assistantMessage"]["id"]
            watcher = asyncio.create_task(follow_stream(api_b.ws_url, account.token, doomed_id))
            await asyncio.sleep(3.5)  # past A's first checkpoint
            a.process.send_signal(signal.SIGKILL)
            a.process.wait(timeout=10)
            events = await asyncio.wait_for(watcher, timeout=20)
            doomed_row = await stored(api_b, account.token, doomed_id)
            survivor_events = await follow_stream(api_b.ws_url, account.token, survivor_id)
            restarted = start_server(name="a-again", **FAST_FAULTS)
            api_a2 = await client_for(http, restarted)
            after_restart = await stored(api_a2, account.token, doomed_id)
        assert doomed_row["status"] == "INTERRUPTED"
        assert doomed_row["content"]
        assert expected(400).startswith(doomed_row["content"])
        final = events[-1]
        assert (final["__typename"], final["code"]) == ("MessageFailed", "INTERRUPTED")
        assert assert_contiguous(events) == final["message"]["content"] == doomed_row["content"]
        assert survivor_events[-1]["message"]["status"] == "COMPLETE"
        assert survivor_events[-1]["message"]["content"] == expected(250)
        assert after_restart == doomed_row

    async def test_sigterm_finishes_or_interrupts_and_never_leaves_streaming(
        self, start_server: StartServer, upstream: FakeUpstream
    ) -> None:
        server = start_server(name="terminated", **FAST_FAULTS)
        async with httpx.AsyncClient(timeout=30) as http:
            api = await client_for(http, server)
            account, key = await with_key(api)
            upstream.script(key, Script(token_count=20, delay=0.02), Script(token_count=500, delay=0.02))
            short = await send(api, account, content="short")
            long = await send(api, account, content="long")
            async with ws_connect(api.ws_url, {"authorization": f"Bearer {account.token}"}) as ws:
                await ws.receive()
                await ws.subscribe(MESSAGE_STREAM, {"id": long["assistantMessage"]["id"]})
                await ws.receive()
                server.process.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed) as closed:
                    await _drain(ws)
            # uvicorn shuts down gracefully, then re-raises the signal (exit by SIGTERM, as is conventional).
            assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
            assert "waiting up to 1.0s for 2 running generation(s)" in server.log()
            after = start_server(name="after-sigterm", **FAST_FAULTS)
            api = await client_for(http, after)
            short_row = await stored(api, account.token, short["assistantMessage"]["id"])
            long_row = await stored(api, account.token, long["assistantMessage"]["id"])
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012
        assert short_row["status"] == "COMPLETE"
        assert short_row["content"] == expected(20)
        assert long_row["status"] == "INTERRUPTED"
        assert long_row["content"]
        assert expected(500).startswith(long_row["content"])


class TestRedisOutages:
    async def test_redis_restarted_mid_stream(
        self, start_server: StartServer, upstream: FakeUpstream, tmp_path: Path
    ) -> None:
        redis = RedisServer(tmp_path)
        redis.start()
        try:
            server = start_server(name="own-redis", REDIS_URL=redis.url)
            async with httpx.AsyncClient(timeout=30) as http:
                api = await client_for(http, server)
                account, key = await with_key(api)
                upstream.script(key, Script(token_count=150, delay=0.02))
                sent = await send(api, account)
                follower = asyncio.create_task(follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"]))
                await asyncio.sleep(0.8)
                await asyncio.to_thread(redis.restart, 0.6)
                events = await asyncio.wait_for(follower, timeout=30)
                late = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        finally:
            redis.stop()
        assert assert_contiguous(events) == expected(150)
        assert events[-1]["message"]["content"] == expected(150)
        assert late == [events[-1]]

    async def test_connections_to_redis_cut_mid_stream(
        self, start_server: StartServer, upstream: FakeUpstream, tmp_path: Path
    ) -> None:
        redis = RedisServer(tmp_path)
        redis.start()
        proxy = FaultProxy(redis.port)
        await proxy.start()
        try:
            server = start_server(name="cut-redis", REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
            async with httpx.AsyncClient(timeout=30) as http:
                api = await client_for(http, server)
                account, key = await with_key(api)
                upstream.script(key, Script(token_count=150, delay=0.02))
                sent = await send(api, account)
                message_id = sent["assistantMessage"]["id"]
                followers = [
                    asyncio.create_task(follow_stream(api.ws_url, account.token, message_id)) for _ in range(2)
                ]
                await asyncio.sleep(0.8)
                proxy.stall()
                await asyncio.sleep(0.5)
                proxy.reset()
                proxy.resume()
                results = await asyncio.wait_for(asyncio.gather(*followers), timeout=30)
        finally:
            await proxy.stop()
            redis.stop()
        for events in results:
            assert assert_contiguous(events) == expected(150)
            assert events[-1]["message"]["status"] == "COMPLETE"
