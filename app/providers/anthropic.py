"""Anthropic's Messages API, streamed: the SDK sends the request and maps errors, events are read raw."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAnthropic
from anthropic.types import AssistantMessageParam, MessageParam, UserMessageParam

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
from app.providers.http import ProviderHttp
from app.providers.sse import sse_data

# Anthropic requires max_tokens; this is what an answer may use when the user sets no limit.
DEFAULT_MAX_TOKENS = 8192


def translate_error(error: Exception) -> ProviderFailure:
    if isinstance(error, anthropic.APIStatusError):
        # 529 is Anthropic's "overloaded": a server-side condition worth retrying like a 503.
        return failure_for_status(error.status_code, retry_after_seconds(error.response.headers.get("retry-after")))
    if isinstance(error, anthropic.APITimeoutError):
        return ProviderFailure(FailureKind.TIMEOUT)
    if isinstance(error, anthropic.APIConnectionError):
        return ProviderFailure(FailureKind.UNAVAILABLE)
    return ProviderFailure(FailureKind.INTERRUPTED)


def _user_content(turn: Turn) -> str | list[dict[str, Any]]:
    """Plain text, or text plus image blocks and PDF document blocks (base64 sources)."""
    if not turn.files:
        return turn.text
    blocks: list[dict[str, Any]] = []
    for file in turn.files:
        source = {"type": "base64", "media_type": file.content_type, "data": base64.b64encode(file.data).decode()}
        blocks.append({"type": "image" if file.content_type.startswith("image/") else "document", "source": source})
    blocks.append({"type": "text", "text": turn.text})  # Anthropic suggests files before the question
    return blocks


class AnthropicProvider:
    def __init__(self, http: ProviderHttp, *, api_key: str, base_url: str | None) -> None:
        self._client = AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, http_client=http.async_client)

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        messages: list[MessageParam] = [
            UserMessageParam(role="user", content=_user_content(turn))  # type: ignore[typeddict-item]
            if turn.role == "user"
            else AssistantMessageParam(role="assistant", content=turn.text)
            for turn in request.turns
        ]
        extra: dict[str, Any] = {}
        if request.system_prompt:
            extra["system"] = request.system_prompt  # Anthropic takes the system prompt beside the turns
        if request.temperature is not None:
            # This SDK no longer names `temperature` (newer models drop sampling settings); the wire
            # field still works for the models that take it. Anthropic's range is 0..1.
            extra["extra_body"] = {"temperature": min(request.temperature, 1.0)}
        input_tokens: int | None = None
        finished = False
        try:
            async with self._client.messages.with_streaming_response.create(
                model=request.model,
                messages=messages,
                max_tokens=request.max_tokens or DEFAULT_MAX_TOKENS,
                stream=True,
                **extra,
            ) as response:
                async for data in sse_data(response.iter_lines()):
                    event = json.loads(data)
                    kind = event.get("type")
                    if kind == "content_block_delta":
                        delta = event.get("delta") or {}
                        if delta.get("type") == "text_delta" and delta.get("text"):
                            yield TextChunk(delta["text"])
                    elif kind == "message_start":
                        input_tokens = ((event.get("message") or {}).get("usage") or {}).get("input_tokens")
                    elif kind == "message_delta":
                        output_tokens = (event.get("usage") or {}).get("output_tokens")
                        yield UsageReport(input_tokens, output_tokens)
                    elif kind == "message_stop":
                        finished = True
                        break
                    elif kind == "error":
                        error_type = (event.get("error") or {}).get("type")
                        kind_of_failure = (
                            FailureKind.UPSTREAM if error_type == "overloaded_error" else FailureKind.BAD_REQUEST
                        )
                        raise ProviderFailure(kind_of_failure, detail=str(error_type))
        except (anthropic.APIError, httpx2.TransportError) as error:
            raise translate_error(error) from None
        except json.JSONDecodeError:
            raise ProviderFailure(FailureKind.INTERRUPTED, detail="malformed event") from None
        if not finished:
            raise ProviderFailure(FailureKind.INTERRUPTED)

    async def list_models(self) -> list[ModelInfo]:
        try:
            listed = [model async for model in self._client.models.list()]
        except (anthropic.APIError, httpx2.TransportError) as error:
            raise translate_error(error) from None
        models = []
        for model in listed:
            known = describe_model(model.id)
            models.append(
                ModelInfo(
                    id=model.id,
                    display_name=model.display_name or known.display_name,
                    context_window=known.context_window,
                    supports_vision=known.supports_vision if known.display_name else True,
                )
            )
        return sorted(models, key=lambda m: m.id)

    async def aclose(self) -> None:
        return None  # the shared pool outlives this client
