"""Built-in model lists: what a provider offers when its live list cannot be fetched."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.providers.base import ModelInfo, ProviderKind

BUILTIN_MODELS: dict[ProviderKind, tuple[ModelInfo, ...]] = {
    ProviderKind.OPENAI: (
        ModelInfo("gpt-4.1", "GPT-4.1", 1_047_576, supports_vision=True),
        ModelInfo("gpt-4.1-mini", "GPT-4.1 mini", 1_047_576, supports_vision=True),
        ModelInfo("gpt-4o", "GPT-4o", 128_000, supports_vision=True),
        ModelInfo("gpt-4o-mini", "GPT-4o mini", 128_000, supports_vision=True),
        ModelInfo("o3-mini", "o3-mini", 200_000, supports_vision=False),
    ),
    ProviderKind.GEMINI: (
        ModelInfo("gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, supports_vision=True),
        ModelInfo("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, supports_vision=True),
        ModelInfo("gemini-2.0-flash", "Gemini 2.0 Flash", 1_048_576, supports_vision=True),
    ),
    ProviderKind.ANTHROPIC: (
        ModelInfo("claude-sonnet-4-5", "Claude Sonnet 4.5", 200_000, supports_vision=True),
        ModelInfo("claude-opus-4-1", "Claude Opus 4.1", 200_000, supports_vision=True),
        ModelInfo("claude-3-5-haiku-latest", "Claude 3.5 Haiku", 200_000, supports_vision=False),
    ),
    # A self-hosted server's models are whatever it serves: only its live list can say.
    ProviderKind.OPENAI_COMPATIBLE: (),
}


def builtin_models(kind: ProviderKind) -> list[ModelInfo]:
    return list(BUILTIN_MODELS[kind])


_KNOWN = {model.id: model for models in BUILTIN_MODELS.values() for model in models}


def describe_model(model_id: str) -> ModelInfo:
    """What we know of a model a provider listed; unknown ones get only their id."""
    return _KNOWN.get(model_id) or ModelInfo(model_id)


class CatalogCache:
    """Model lists per stored key, for about ten minutes: in Redis when configured, else in memory.

    Keyed by the key's record id and version, never by key material.
    """

    TTL_SECONDS = 600

    def __init__(self, redis: Redis | None) -> None:
        self._redis = redis
        self._memory: dict[str, tuple[float, list[ModelInfo]]] = {}

    async def get(self, cache_key: str) -> list[ModelInfo] | None:
        if self._redis is not None:
            try:
                raw = await self._redis.get(f"catalog:{cache_key}")
            except (RedisError, OSError):
                return None
            return [ModelInfo(**item) for item in json.loads(raw)] if raw is not None else None
        entry = self._memory.get(cache_key)
        if entry is None or entry[0] < time.monotonic():
            self._memory.pop(cache_key, None)
            return None
        return entry[1]

    async def put(self, cache_key: str, models: list[ModelInfo]) -> None:
        if self._redis is not None:
            payload = json.dumps([dataclasses.asdict(model) for model in models])
            with contextlib.suppress(RedisError, OSError):
                await self._redis.set(f"catalog:{cache_key}", payload, ex=self.TTL_SECONDS)
            return
        if len(self._memory) > 10_000:
            self._memory.clear()
        self._memory[cache_key] = (time.monotonic() + self.TTL_SECONDS, models)
