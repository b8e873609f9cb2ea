"""Built-in model lists: what a provider offers when its live list cannot be fetched."""

from __future__ import annotations

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
