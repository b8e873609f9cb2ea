from __future__ import annotations

import enum
from dataclasses import dataclass


class ProviderKind(enum.Enum):
    OPENAI = "OPENAI"
    GEMINI = "GEMINI"
    ANTHROPIC = "ANTHROPIC"
    OPENAI_COMPATIBLE = "OPENAI_COMPATIBLE"


PROVIDER_NAMES: dict[ProviderKind, str] = {
    ProviderKind.OPENAI: "OpenAI",
    ProviderKind.GEMINI: "Google Gemini",
    ProviderKind.ANTHROPIC: "Anthropic",
    ProviderKind.OPENAI_COMPATIBLE: "OpenAI-compatible server",
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    display_name: str | None = None
    context_window: int | None = None
    supports_vision: bool = False
