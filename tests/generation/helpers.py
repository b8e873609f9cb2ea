"""Shared pieces of the generation tests."""

from __future__ import annotations

import uuid
from typing import Any

from tests.gql import Account, GraphQLClient

SET_KEY = "mutation($p: ProviderKind!, $k: String!) { setApiKey(provider: $p, key: $k) { id } }"
SEND = """
mutation Send($input: SendMessageInput!) {
  sendMessage(input: $input) {
    chat { id title }
    userMessage { id role content status parentId }
    assistantMessage { id role content status parentId provider model }
  }
}
"""
MESSAGE = """
query($id: ID!) { node(id: $id) { ... on Message { id content status error provider model usage { inputTokens outputTokens } } } }
"""
MODELS = {"OPENAI": "gpt-4o", "GEMINI": "gemini-2.0-flash", "ANTHROPIC": "claude-sonnet-4-5"}
KEY_SHAPES = {
    "OPENAI": "sk-test-{}",
    "GEMINI": "AIza{}",
    "ANTHROPIC": "sk-ant-api03-{}",
}


async def with_key(api: GraphQLClient, provider: str = "OPENAI") -> tuple[Account, str]:
    account = await api.sign_up()
    key = KEY_SHAPES[provider].format(uuid.uuid4().hex + uuid.uuid4().hex[:8])
    await api.data(SET_KEY, {"p": provider, "k": key}, token=account.token)
    return account, key


async def send(api: GraphQLClient, account: Account, provider: str = "OPENAI", **fields: Any) -> dict[str, Any]:
    payload = {"content": "Hello there", "provider": provider, "model": MODELS[provider], **fields}
    data = await api.data(SEND, {"input": payload}, token=account.token)
    result: dict[str, Any] = data["sendMessage"]
    return result


def assert_contiguous(events: list[dict[str, Any]], start: int = 0) -> str:
    """Deltas start at ``start``, each where the last ended; exactly one final event closes them."""
    *deltas, final = events
    expected = start
    for delta in deltas:
        assert delta["__typename"] == "MessageDelta", delta
        assert delta["index"] == expected, (delta, expected)
        assert delta["count"] >= 1
        expected += delta["count"]
    assert final["__typename"] in ("MessageCompleted", "MessageFailed")
    return "".join(delta["text"] for delta in deltas)
