"""The one place that turns a provider kind and a key into a client."""

from __future__ import annotations

from app.config import Settings
from app.providers.anthropic import AnthropicProvider
from app.providers.base import Provider, ProviderKind
from app.providers.gemini import GeminiProvider
from app.providers.http import ProviderHttp
from app.providers.openai import OpenAIProvider

STREAMING_PROVIDERS = frozenset({ProviderKind.OPENAI, ProviderKind.GEMINI, ProviderKind.ANTHROPIC})


def build_provider(settings: Settings, http: ProviderHttp, kind: ProviderKind, *, api_key: str) -> Provider:
    if kind is ProviderKind.OPENAI:
        return OpenAIProvider(http, api_key=api_key, base_url=settings.openai_base_url)
    if kind is ProviderKind.GEMINI:
        return GeminiProvider(http, api_key=api_key, base_url=settings.gemini_base_url)
    if kind is ProviderKind.ANTHROPIC:
        return AnthropicProvider(http, api_key=api_key, base_url=settings.anthropic_base_url)
    raise ValueError(f"no streaming client for {kind.value} yet")
