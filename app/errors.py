"""Domain errors. Their ``code`` becomes ``extensions.code`` (the contract's list)."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"


class Forbidden(AppError):
    code = "FORBIDDEN"


class NotFound(AppError):
    """Also raised for another user's object: existence is never revealed."""

    code = "NOT_FOUND"


class BadUserInput(AppError):
    code = "BAD_USER_INPUT"


class ProviderError(AppError):
    """Our own wording of an upstream failure, never the SDK's raw text."""

    code = "PROVIDER_ERROR"


class RateLimited(AppError):
    code = "RATE_LIMITED"
