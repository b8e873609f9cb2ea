"""The embedded default after a crash: unfinished answers become INTERRUPTED with their checkpoint."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, Script
from tests.generation.helpers import MESSAGE, send, with_key
from tests.gql import GraphQLClient, follow_stream
from tests.servers import ServerProcess


async def test_a_killed_embedded_server_leaves_interrupted_answers_with_checkpointed_content(
    upstream_env: dict[str, str], upstream: FakeUpstream, tmp_path: Path
) -> None:
    first = ServerProcess(upstream_env, cwd=tmp_path, log_path=tmp_path / "first.log")
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            api = GraphQLClient(http, first.graphql_url, first.ws_url)
            account, key = await with_key(api)
            upstream.script(key, Script(token_count=200, delay=0.03))
            sent = await send(api, account)
            partial = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"], limit=120)
            assert len(partial) == 120  # ~3.6 s in: past the first checkpoint (every 3 s)
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=10)
    finally:
        first.stop()

    second = ServerProcess(upstream_env, cwd=tmp_path, log_path=tmp_path / "second.log")
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            api = GraphQLClient(http, second.graphql_url, second.ws_url)
            stored = (await api.data(MESSAGE, {"id": sent["assistantMessage"]["id"]}, token=account.token))["node"]
            streamed = "".join(event["text"] for event in partial)
            assert stored["status"] == "INTERRUPTED"
            assert stored["content"], "the checkpoint kept nothing"
            assert streamed.startswith(stored["content"])
            events = await asyncio.wait_for(
                follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"]), timeout=10
            )
            assert [event["__typename"] for event in events] == ["MessageFailed"]
            assert events[0]["code"] == "INTERRUPTED"
            assert events[0]["message"]["content"] == stored["content"]
    finally:
        second.stop()


@pytest.mark.parametrize("provider", ["OPENAI", "GEMINI", "ANTHROPIC"])
async def test_providers_list_models_through_the_real_sdks(upstream: FakeUpstream, provider: str) -> None:
    from app.config import Settings
    from app.providers.base import FailureKind, ProviderFailure, ProviderKind
    from app.providers.factory import build_provider
    from app.providers.http import ProviderHttp

    settings = Settings(
        openai_base_url=upstream.openai_base_url,
        gemini_base_url=upstream.gemini_base_url,
        anthropic_base_url=upstream.url,
    )
    kind = ProviderKind[provider]
    http = ProviderHttp()
    client = build_provider(settings, http, kind, api_key="sk-listing-0123456789")
    models = [model.id for model in await client.list_models()]
    assert (
        models
        == {
            "OPENAI": ["gpt-4.1", "gpt-4o", "gpt-4o-mini"],
            "GEMINI": ["gemini-2.0-flash", "gemini-2.5-pro"],
            "ANTHROPIC": ["claude-3-5-haiku-latest", "claude-sonnet-4-5"],
        }[provider]
    )
    rejected = build_provider(settings, http, kind, api_key="rejected-0123456789")
    try:
        with pytest.raises(ProviderFailure) as failure:
            await rejected.list_models()
    finally:
        await http.aclose()
    assert (failure.value.kind, failure.value.status) == (
        FailureKind.AUTHENTICATION,
        400 if provider == "GEMINI" else 401,
    )
    assert "rejected-0123456789" not in str(failure.value)
