"""Token-by-token delivery end to end: mutation -> real SDK -> fake upstream -> broker -> websocket."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.fakes.upstream import UNKNOWN_MODEL, FakeUpstream, Script
from tests.generation.helpers import MESSAGE, MODELS, SET_KEY, assert_contiguous, send, with_key
from tests.gql import GraphQLClient, follow_stream


class TestStreaming:
    @pytest.mark.parametrize("provider", ["OPENAI", "GEMINI", "ANTHROPIC"])
    async def test_deltas_are_ordered_complete_and_match_the_stored_message(
        self, api: GraphQLClient, upstream: FakeUpstream, provider: str
    ) -> None:
        account, key = await with_key(api, provider)
        upstream.script(key, Script(token_count=30, delay=0.02))
        sent = await send(api, account, provider)
        assistant = sent["assistantMessage"]
        assert assistant["status"] == "PENDING"
        assert assistant["content"] == ""
        assert (assistant["provider"], assistant["model"]) == (provider, MODELS[provider])
        events = await follow_stream(api.ws_url, account.token, assistant["id"])
        text = assert_contiguous(events)
        assert text == "".join(f"t{i} " for i in range(30))
        final = events[-1]
        assert final["__typename"] == "MessageCompleted"
        assert final["message"]["content"] == text
        assert final["message"]["status"] == "COMPLETE"
        assert final["message"]["usage"] == {"inputTokens": 2, "outputTokens": 30}
        stored = (await api.data(MESSAGE, {"id": assistant["id"]}, token=account.token))["node"]
        assert stored["content"] == text
        assert stored["status"] == "COMPLETE"

    async def test_the_first_delta_arrives_well_before_the_last(
        self, api: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(token_count=20, delay=0.05))
        sent = await send(api, account)
        arrivals: list[float] = []
        events: list[dict[str, Any]] = []

        async def watch() -> None:
            from tests.gql import MESSAGE_STREAM, ws_connect

            async with ws_connect(api.ws_url, {"authorization": f"Bearer {account.token}"}) as ws:
                await ws.receive()
                await ws.subscribe(MESSAGE_STREAM, {"id": sent["assistantMessage"]["id"]})
                while (message := await ws.receive())["type"] == "next":
                    arrivals.append(time.monotonic())
                    events.append(message["payload"]["data"]["messageStream"])

        await watch()
        assert_contiguous(events)
        assert len(events) >= 10
        assert arrivals[-1] - arrivals[0] > 0.5  # 20 tokens x 50 ms upstream: it really streamed

    async def test_a_late_subscriber_gets_every_delta(self, api: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(token_count=40, delay=0.03))
        sent = await send(api, account)
        await asyncio.sleep(0.5)  # about half the answer is out before we subscribe
        events = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        assert assert_contiguous(events) == "".join(f"t{i} " for i in range(40))

    async def test_offset_starts_at_that_chunk(self, api: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(token_count=30, delay=0.03))
        sent = await send(api, account)
        events = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"], offset=7)
        assert events[0]["index"] == 7
        assert assert_contiguous(events, start=7) == "".join(f"t{i} " for i in range(7, 30))

    async def test_a_finished_message_yields_its_final_event_at_once(
        self, api: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(token_count=5))
        sent = await send(api, account)
        first = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        again = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        assert [event["__typename"] for event in again] == ["MessageCompleted"]
        assert again[0]["message"] == first[-1]["message"]

    @pytest.mark.parametrize(("provider", "status"), [("OPENAI", 401), ("GEMINI", 400), ("ANTHROPIC", 401)])
    async def test_provider_rejecting_the_key_fails_the_stream(
        self, api: GraphQLClient, upstream: FakeUpstream, provider: str, status: int
    ) -> None:
        account = await api.sign_up()
        rejected = f"revoked-{uuid.uuid4().hex}"
        await api.data(SET_KEY, {"p": provider, "k": rejected}, token=account.token)
        sent = await send(api, account, provider)
        events = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        assert events == [
            {
                "__typename": "MessageFailed",
                "code": "PROVIDER_ERROR",
                "error": f"The provider rejected the API key (HTTP {status}).",
                "message": {
                    "id": sent["assistantMessage"]["id"],
                    "content": "",
                    "status": "FAILED",
                    "error": f"The provider rejected the API key (HTTP {status}).",
                },
            }
        ]
        assert len(upstream.requests(rejected)) == 1

    @pytest.mark.parametrize("provider", ["OPENAI", "GEMINI", "ANTHROPIC"])
    async def test_provider_rejecting_the_model_fails_the_stream(self, api: GraphQLClient, provider: str) -> None:
        account, _ = await with_key(api, provider)
        sent = await send(api, account, provider, model=UNKNOWN_MODEL)
        events = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        assert [event["__typename"] for event in events] == ["MessageFailed"]
        assert events[0]["code"] == "PROVIDER_ERROR"
        assert "HTTP 404" in events[0]["error"]
        assert events[0]["message"]["status"] == "FAILED"
