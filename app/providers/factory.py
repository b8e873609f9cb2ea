"""The one place that turns a provider kind and a key into a client."""

from __future__ import annotations

from app.config import Settings
from app.providers.anthropic import AnthropicProvider
from app.providers.base import Provider, ProviderKind
from app.providers.gemini import GeminiProvider
from app.providers.http import ProviderHttp
from app.providers.openai import OpenAIProvider

STREAMING_PROVIDERS = frozenset(
    {ProviderKind.OPENAI, ProviderKind.GEMINI, ProviderKind.ANTHROPIC, ProviderKind.OPENAI_COMPATIBLE}
)


def build_provider(
    settings: Settings, http: ProviderHttp, kind: ProviderKind, *, api_key: str, base_url: str | None = None
) -> Provider:
    """A client for one request with one user's key; ``base_url`` is the user's own endpoint, if any."""
    if kind is ProviderKind.OPENAI:
        return OpenAIProvider(http.async_client, api_key=api_key, base_url=settings.openai_base_url)
    if kind is ProviderKind.OPENAI_COMPATIBLE:
        if not base_url:
            raise ValueError("an OPENAI_COMPATIBLE key without its base URL")
        # The user's URL goes through the guarded transport, and only ever with that user's key.
        return OpenAIProvider(http.guarded_client, api_key=api_key, base_url=base_url, compatible=True)
    if kind is ProviderKind.GEMINI:
        return GeminiProvider(http, api_key=api_key, base_url=settings.gemini_base_url)
    if kind is ProviderKind.ANTHROPIC:
        return AnthropicProvider(http, api_key=api_key, base_url=settings.anthropic_base_url)
    raise ValueError(f"no streaming client for {kind.value} yet")
