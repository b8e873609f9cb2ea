"""Keys checked once against the provider, and live model lists cached per key."""

from __future__ import annotations

import uuid

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gql import GraphQLClient, error_codes

SET_KEY = "mutation($p: ProviderKind!, $k: String!) { setApiKey(provider: $p, key: $k) { id models { id } } }"
KEYS = "{ apiKeys { id models { id displayName contextWindow supportsVision } } }"
SHAPES = {"OPENAI": "sk-{}", "GEMINI": "AIza{}", "ANTHROPIC": "sk-ant-{}"}
LIVE = {
    "OPENAI": ["gpt-4.1", "gpt-4o", "gpt-4o-mini"],
    "GEMINI": ["gemini-2.0-flash", "gemini-2.5-pro"],
    "ANTHROPIC": ["claude-3-5-haiku-latest", "claude-sonnet-4-5"],
}


@pytest.mark.parametrize("provider", ["OPENAI", "GEMINI", "ANTHROPIC"])
async def test_a_key_the_provider_rejects_is_not_stored(client: GraphQLClient, provider: str) -> None:
    account = await client.sign_up()
    key = f"rejected-{uuid.uuid4().hex}"
    body = await client.execute(SET_KEY, {"p": provider, "k": key}, token=account.token)
    assert body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"].startswith("The provider rejected this key")
    assert key not in str(body)
    assert await client.data("{ apiKeys { id } }", token=account.token) == {"apiKeys": []}


@pytest.mark.parametrize("provider", ["OPENAI", "GEMINI", "ANTHROPIC"])
async def test_models_are_the_providers_own_list_cached_per_key(
    client: GraphQLClient, upstream: FakeUpstream, provider: str
) -> None:
    account = await client.sign_up()
    key = SHAPES[provider].format(uuid.uuid4().hex)
    stored = (await client.data(SET_KEY, {"p": provider, "k": key}, token=account.token))["setApiKey"]
    assert [model["id"] for model in stored["models"]] == LIVE[provider]
    for _ in range(2):
        listed = (await client.data(KEYS, token=account.token))["apiKeys"]
        assert [model["id"] for model in listed[0]["models"]] == LIVE[provider]
    assert upstream.model_listings(key) == 1  # the check at setApiKey; then the cache answered
    providers = (await client.data("{ providers { kind configured models { id } } }", token=account.token))["providers"]
    mine = next(p for p in providers if p["kind"] == provider)
    assert mine["configured"] is True
    assert [model["id"] for model in mine["models"]] == LIVE[provider]


async def test_known_models_keep_their_capabilities(client: GraphQLClient) -> None:
    account = await client.sign_up()
    await client.data(SET_KEY, {"p": "OPENAI", "k": f"sk-{uuid.uuid4().hex}"}, token=account.token)
    models = (await client.data(KEYS, token=account.token))["apiKeys"][0]["models"]
    assert {"id": "gpt-4o", "displayName": "GPT-4o", "contextWindow": 128000, "supportsVision": True} in models


async def test_when_listing_fails_the_key_is_kept_and_the_builtin_list_shown(
    client: GraphQLClient, upstream: FakeUpstream
) -> None:
    account = await client.sign_up()
    key = f"nolist-{uuid.uuid4().hex}"
    stored = (await client.data(SET_KEY, {"p": "OPENAI", "k": key}, token=account.token))["setApiKey"]
    builtin = ["gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert [model["id"] for model in stored["models"]] == builtin
    assert upstream.model_listings(key) >= 2  # tried at setApiKey, and again for the field (not cached)
