"""OpenAI's chat-completions streaming, also serving every OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import openai
from openai import AsyncOpenAI, omit
from openai.types.chat import ChatCompletionMessageParam

from app.providers.base import (
    ChatRequest,
    FailureKind,
    ModelInfo,
    ProviderFailure,
    StreamItem,
    TextChunk,
    UsageReport,
    failure_for_status,
)
from app.providers.catalog import describe_model

TIMEOUT = httpx2.Timeout(connect=10.0, read=120.0, write=30.0, pool=10.0)


def _retry_after(headers: httpx2.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate_error(error: Exception) -> ProviderFailure:
    if isinstance(error, openai.APIStatusError):
        return failure_for_status(error.status_code, _retry_after(error.response.headers))
    if isinstance(error, openai.APITimeoutError):
        return ProviderFailure(FailureKind.TIMEOUT)
    if isinstance(error, openai.APIConnectionError):
        return ProviderFailure(FailureKind.UNAVAILABLE)
    if isinstance(error, (httpx2.TransportError, openai.APIError)):
        return ProviderFailure(FailureKind.INTERRUPTED)
    raise error


class OpenAIProvider:
    def __init__(self, *, api_key: str, base_url: str | None, compatible: bool = False) -> None:
        # A client per key and request: no process-wide configuration, so keys never mix.
        self._client = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=TIMEOUT)
        self._compatible = compatible

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        messages: list[ChatCompletionMessageParam] = []
        if request.system_prompt:
            messages.append({"role": "system", "content": request.system_prompt})
        for turn in request.turns:
            if turn.role == "user":
                messages.append({"role": "user", "content": turn.text})
            else:
                messages.append({"role": "assistant", "content": turn.text})
        limit = request.max_tokens if request.max_tokens is not None else omit
        try:
            stream = await self._client.chat.completions.create(
                model=request.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                temperature=request.temperature if request.temperature is not None else omit,
                # OpenAI's newer models only take max_completion_tokens; compatible servers know max_tokens.
                max_tokens=limit if self._compatible else omit,
                max_completion_tokens=omit if self._compatible else limit,
            )
            async with stream:
                async for chunk in stream:
                    for choice in chunk.choices:
                        if choice.index == 0 and choice.delta.content:
                            yield TextChunk(choice.delta.content)
                    if chunk.usage is not None:
                        yield UsageReport(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        except (openai.APIError, httpx2.TransportError) as error:
            raise translate_error(error) from None

    async def list_models(self) -> list[ModelInfo]:
        try:
            models = [describe_model(model.id) async for model in self._client.models.list()]
        except (openai.APIError, httpx2.TransportError) as error:
            raise translate_error(error) from None
        return sorted(models, key=lambda model: model.id)

    async def aclose(self) -> None:
        await self._client.close()
