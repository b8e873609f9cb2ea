"""OpenAI-compatible servers (Ollama, vLLM, OpenRouter …): a user's own endpoint, behind the guard."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import StartServer
from tests.fakes.upstream import FakeUpstream, Script
from tests.generation.helpers import assert_contiguous
from tests.gql import GraphQLClient, error_codes, follow_stream

SET_COMPATIBLE = """
mutation($key: String!, $url: String!, $label: String) {
  setApiKey(provider: OPENAI_COMPATIBLE, key: $key, baseUrl: $url, label: $label) { id baseUrl hint models { id } }
}
"""
SEND = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) { assistantMessage { id provider model } } }
"""


async def test_streams_from_the_users_own_endpoint_with_the_users_key(
    start_server: StartServer, upstream: FakeUpstream
) -> None:
    server = start_server(name="self-hosted", ALLOW_PRIVATE_ENDPOINTS="true")
    async with httpx.AsyncClient(timeout=30) as http:
        api = GraphQLClient(http, server.graphql_url, server.ws_url)
        alice, bob = await api.sign_up(), await api.sign_up()
        key = f"ollama-{uuid.uuid4().hex}"
        stored = (
            await api.data(
                SET_COMPATIBLE, {"key": key, "url": upstream.openai_base_url, "label": "ollama"}, token=alice.token
            )
        )["setApiKey"]
        assert stored["baseUrl"] == upstream.openai_base_url
        upstream.script(key, Script(token_count=12, delay=0.01))
        payload = {
            "content": "Hi",
            "provider": "OPENAI_COMPATIBLE",
            "model": "llama3.1:8b",
            "apiKeyId": stored["id"],
            "maxTokens": 50,
        }
        sent = (await api.data(SEND, {"input": payload}, token=alice.token))["sendMessage"]["assistantMessage"]
        events = await follow_stream(api.ws_url, alice.token, sent["id"])
        assert assert_contiguous(events) == "".join(f"t{i} " for i in range(12))
        assert (sent["provider"], sent["model"]) == ("OPENAI_COMPATIBLE", "llama3.1:8b")
        # Compatible servers know max_tokens (not OpenAI's newer max_completion_tokens).
        request = upstream.requests(key)[0]
        assert (request.model, request.body.get("max_tokens"), "max_completion_tokens" in request.body) == (
            "llama3.1:8b",
            50,
            False,
        )
        # Bob cannot point alice's endpoint and key at anything.
        stolen = await api.execute(SEND, {"input": {**payload, "apiKeyId": stored["id"]}}, token=bob.token)
        assert error_codes(stolen) == ["NOT_FOUND"]
        assert len(upstream.requests(key)) == 1


async def test_a_redirecting_endpoint_is_not_followed(start_server: StartServer, upstream: FakeUpstream) -> None:
    server = start_server(name="redirects", ALLOW_PRIVATE_ENDPOINTS="true")
    async with httpx.AsyncClient(timeout=30) as http:
        api = GraphQLClient(http, server.graphql_url, server.ws_url)
        account = await api.sign_up()
        key = f"redirect-{uuid.uuid4().hex}"
        stored = (await api.data(SET_COMPATIBLE, {"key": key, "url": upstream.openai_base_url}, token=account.token))[
            "setApiKey"
        ]
        upstream.script(key, Script(status=307), Script(token_count=3))
        payload = {"content": "Hi", "provider": "OPENAI_COMPATIBLE", "model": "m", "apiKeyId": stored["id"]}
        sent = (await api.data(SEND, {"input": payload}, token=account.token))["sendMessage"]["assistantMessage"]
        events = await follow_stream(api.ws_url, account.token, sent["id"])
    assert [(e["__typename"], e["code"]) for e in events] == [("MessageFailed", "PROVIDER_ERROR")]
    assert "HTTP 307" in events[0]["error"]
    assert len(upstream.requests(key)) == 1
