"""Google Gemini through google-genai's async streaming API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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
from app.providers.http import ProviderHttp

TIMEOUT_MS = 120_000


def _is_invalid_key(error: genai_errors.APIError) -> bool:
    # Gemini answers a bad key with 400 INVALID_ARGUMENT; the ErrorInfo reason says what it is.
    details = error.details.get("error", {}).get("details", []) if isinstance(error.details, dict) else []
    return any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details)


def translate_error(error: Exception) -> ProviderFailure:
    if isinstance(error, genai_errors.APIError):
        if _is_invalid_key(error):
            return ProviderFailure(FailureKind.AUTHENTICATION, status=error.code)
        return failure_for_status(error.code or 500)
    if isinstance(error, (httpx.TimeoutException, httpx2.TimeoutException, TimeoutError)):
        return ProviderFailure(FailureKind.TIMEOUT)
    if isinstance(error, (httpx.ConnectError, httpx2.ConnectError)):
        return ProviderFailure(FailureKind.UNAVAILABLE)
    return ProviderFailure(FailureKind.INTERRUPTED)


_ERRORS = (genai_errors.APIError, httpx.TransportError, httpx2.TransportError, TimeoutError)


class GeminiProvider:
    def __init__(self, http: ProviderHttp, *, api_key: str, base_url: str | None) -> None:
        options = types.HttpOptions(
            base_url=base_url,
            timeout=TIMEOUT_MS,
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_client=http.sync_client,
            httpx_async_client=http.async_client,
            async_client_args={"ssl": http.ssl_context},
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        contents = [
            types.Content(
                role="model" if turn.role == "assistant" else "user",
                parts=[
                    types.Part(text=turn.text),
                    *(types.Part(inline_data=types.Blob(mime_type=f.content_type, data=f.data)) for f in turn.files),
                ],
            )
            for turn in request.turns
        ]
        config = types.GenerateContentConfig(
            system_instruction=request.system_prompt or None,
            temperature=request.temperature,
            max_output_tokens=request.max_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        usage: types.GenerateContentResponseUsageMetadata | None = None
        try:
            stream = await self._client.aio.models.generate_content_stream(
                model=request.model, contents=contents, config=config
            )
            async for chunk in stream:
                for candidate in (chunk.candidates or [])[:1]:
                    for part in (candidate.content.parts or []) if candidate.content else []:
                        if part.text and not part.thought:
                            yield TextChunk(part.text)
                if chunk.usage_metadata is not None:
                    usage = chunk.usage_metadata
        except _ERRORS as error:
            raise translate_error(error) from None
        if usage is not None:
            yield UsageReport(usage.prompt_token_count, usage.candidates_token_count)

    async def list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        try:
            async for model in await self._client.aio.models.list():
                if model.name and "generateContent" in (model.supported_actions or []):
                    models.append(
                        ModelInfo(
                            id=model.name.removeprefix("models/"),
                            display_name=model.display_name,
                            context_window=model.input_token_limit,
                            supports_vision=True,
                        )
                    )
        except _ERRORS as error:
            raise translate_error(error) from None
        return sorted(models, key=lambda m: m.id)

    async def aclose(self) -> None:
        return None  # the shared pool outlives this client
