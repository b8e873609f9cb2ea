"""Every error reaching a client carries ``extensions.code``; unexpected ones carry nothing else.

Domain errors (``AppError``) keep their message and code. Errors graphql-core
raises itself (parsing, validation, variable coercion) are the client's input,
so they become ``BAD_USER_INPUT``. Anything else is a bug: it is logged, with
secrets redacted, and the client sees only "Internal server error.".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from app.errors import AppError

logger = logging.getLogger("app.graphql")
INTERNAL_MESSAGE = "Internal server error."


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (AppError, GraphQLError))


def present_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, AppError):
        extensions: dict[str, Any] = {**original.extensions, "code": original.code}
        message = original.message
    elif is_unexpected(error):
        extensions, message = {"code": "INTERNAL_SERVER_ERROR"}, INTERNAL_MESSAGE
    else:
        extensions = {"code": "BAD_USER_INPUT", **(error.extensions or {})}
        message = error.message
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def _present_all(result: Any) -> None:
    if result is not None and getattr(result, "errors", None):
        result.errors = [present_error(error) for error in result.errors]


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        _present_all(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Each subscription result reaches the client through here, before on_operation ends.
        _present_all(result)
        yield


class AppSchema(Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:  # noqa: ARG002
        # Expected errors are answers, not incidents: only bugs are logged (redacted by the log filter).
        for error in errors:
            if is_unexpected(error):
                logger.error("unexpected error in %s", error.path, exc_info=error.original_error)
