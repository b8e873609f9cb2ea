"""OpenAI's chat-completions streaming, also serving every OpenAI-compatible server."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any, cast

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
    Turn,
    UsageReport,
    failure_for_status,
    retry_after_seconds,
)
from app.providers.catalog import describe_model
from app.providers.sse import sse_data


def translate_error(error: Exception) -> ProviderFailure:
    if isinstance(error, openai.APIStatusError):
        return failure_for_status(error.status_code, retry_after_seconds(error.response.headers.get("retry-after")))
    if isinstance(error, openai.APITimeoutError):
        return ProviderFailure(FailureKind.TIMEOUT)
    if isinstance(error, openai.APIConnectionError):
        return ProviderFailure(FailureKind.UNAVAILABLE)
    if isinstance(error, (httpx2.TransportError, openai.APIError)):
        return ProviderFailure(FailureKind.INTERRUPTED)
    raise error


def _user_content(turn: Turn) -> str | list[dict[str, Any]]:
    """Plain text, or text plus images (image_url data URLs) and PDFs (file parts)."""
    if not turn.files:
        return turn.text
    parts: list[dict[str, Any]] = [{"type": "text", "text": turn.text}]
    for file in turn.files:
        data_url = f"data:{file.content_type};base64,{base64.b64encode(file.data).decode()}"
        if file.content_type.startswith("image/"):
            parts.append({"type": "image_url", "image_url": {"url": data_url}})
        else:
            parts.append({"type": "file", "file": {"filename": file.filename, "file_data": data_url}})
    return parts


def _read_chunk(chunk: dict[str, Any]) -> tuple[list[StreamItem], bool]:
    """What one chat.completion.chunk carries (text, usage), and whether it finishes the answer."""
    if "error" in chunk:
        raise ProviderFailure(FailureKind.UPSTREAM, detail="error event mid-stream")
    items: list[StreamItem] = []
    finished = False
    for choice in chunk.get("choices") or ():
        if choice.get("index", 0) != 0:
            continue
        text = (choice.get("delta") or {}).get("content")
        if text:
            items.append(TextChunk(text))
        finished = finished or bool(choice.get("finish_reason"))
    usage = chunk.get("usage")
    if usage:
        items.append(UsageReport(usage.get("prompt_tokens"), usage.get("completion_tokens")))
    return items, finished


class OpenAIProvider:
    def __init__(
        self, http_client: httpx2.AsyncClient, *, api_key: str, base_url: str | None, compatible: bool = False
    ) -> None:
        # A client per key and request over a shared pool: no process-wide configuration, so keys never mix.
        self._client = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client)
        self._compatible = compatible

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        messages: list[ChatCompletionMessageParam] = []
        if request.system_prompt:
            messages.append({"role": "system", "content": request.system_prompt})
        for turn in request.turns:
            if turn.role == "user":
                messages.append(cast("ChatCompletionMessageParam", {"role": "user", "content": _user_content(turn)}))
            else:
                messages.append({"role": "assistant", "content": turn.text})
        limit = request.max_tokens if request.max_tokens is not None else omit
        try:
            # The SDK sends the request and maps HTTP errors; the event stream is read raw, because
            # building a pydantic object per chunk costs several times more than the JSON itself.
            async with self._client.chat.completions.with_streaming_response.create(
                model=request.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                temperature=request.temperature if request.temperature is not None else omit,
                # OpenAI's newer models only take max_completion_tokens; compatible servers know max_tokens.
                max_tokens=limit if self._compatible else omit,
                max_completion_tokens=omit if self._compatible else limit,
            ) as response:
                finished = False
                async for data in sse_data(response.iter_lines()):
                    if data == "[DONE]":
                        finished = True
                        break
                    items, chunk_finished = _read_chunk(json.loads(data))
                    finished = finished or chunk_finished
                    for item in items:
                        yield item
        except (openai.APIError, httpx2.TransportError) as error:
            raise translate_error(error) from None
        except json.JSONDecodeError:
            raise ProviderFailure(FailureKind.INTERRUPTED, detail="malformed event") from None
        if not finished:
            raise ProviderFailure(FailureKind.INTERRUPTED)

    async def list_models(self) -> list[ModelInfo]:
        try:
            models = [describe_model(model.id) async for model in self._client.models.list()]
        except (openai.APIError, httpx2.TransportError) as error:
            raise translate_error(error) from None
        return sorted(models, key=lambda model: model.id)

    async def aclose(self) -> None:
        return None  # the shared pool outlives this client
