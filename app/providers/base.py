"""The provider protocol: stream one chat completion, list models. One instance per key and request."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol


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


@dataclass(frozen=True, slots=True)
class FilePart:
    """An image or a PDF sent as the provider's native part (text files are inlined into the text)."""

    content_type: str
    filename: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    text: str
    files: tuple[FilePart, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    turns: list[Turn]
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    input_tokens: int | None
    output_tokens: int | None


StreamItem = TextChunk | UsageReport


class FailureKind(enum.Enum):
    AUTHENTICATION = "the provider rejected the API key"
    PERMISSION = "the API key is not allowed to use this model"
    NOT_FOUND = "the provider does not know this model"
    RATE_LIMITED = "the provider is rate limiting this key"
    BAD_REQUEST = "the provider rejected the request"
    UPSTREAM = "the provider had an internal error"
    UNAVAILABLE = "the provider could not be reached"
    TIMEOUT = "the provider did not answer in time"
    INTERRUPTED = "the provider's stream broke off"
    STALLED = "the provider stalled: nothing arrived for too long"


@dataclass(slots=True)
class ProviderFailure(Exception):
    """An upstream failure in our own words: never the SDK's text, which may quote the key."""

    kind: FailureKind
    status: int | None = None
    retry_after: float | None = None
    detail: str | None = field(default=None)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    @property
    def message(self) -> str:
        suffix = f" (HTTP {self.status})" if self.status else ""
        return f"{self.kind.value[0].upper()}{self.kind.value[1:]}{suffix}."

    @property
    def retryable(self) -> bool:
        """Worth another attempt, as long as nothing was streamed yet (that would bill twice)."""
        return self.kind in {
            FailureKind.RATE_LIMITED,
            FailureKind.UPSTREAM,
            FailureKind.UNAVAILABLE,
            FailureKind.TIMEOUT,
            FailureKind.STALLED,
            FailureKind.INTERRUPTED,
        }


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is not used by these providers)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def failure_for_status(status: int, retry_after: float | None = None) -> ProviderFailure:
    if status == 401:
        kind = FailureKind.AUTHENTICATION
    elif status == 403:
        kind = FailureKind.PERMISSION
    elif status == 404:
        kind = FailureKind.NOT_FOUND
    elif status == 429:
        kind = FailureKind.RATE_LIMITED
    elif status >= 500:
        kind = FailureKind.UPSTREAM
    else:
        kind = FailureKind.BAD_REQUEST
    return ProviderFailure(kind, status=status, retry_after=retry_after)


class Provider(Protocol):
    def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """Text chunks as they arrive, then at most one usage report. Raises ProviderFailure."""
        ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def aclose(self) -> None: ...
