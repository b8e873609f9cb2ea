"""Every error reaching a client carries ``extensions.code``; unexpected ones carry nothing else.

Domain errors (``AppError``) keep their message and code. Errors graphql-core
raises itself (parsing, validation, variable coercion) are the client's input,
so they become ``BAD_USER_INPUT``. Anything else is a bug: it is logged, with
secrets redacted, and the client sees only "Internal server error.".

This runs in ``Schema.process_errors``, which Strawberry calls once for every
result that has errors (queries, mutations, each subscription result) before
anything is sent. A schema extension could do the same, but its per-result hook
would cost every streamed token, error or not.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from graphql import GraphQLError
from strawberry import Schema
from strawberry.types import ExecutionContext

from app.config import Settings
from app.errors import AppError, BadUserInput
from app.graphql.limits import NUL_MESSAGE, has_nul

logger = logging.getLogger("app.graphql")
INTERNAL_MESSAGE = "Internal server error."
DEFAULT_SETTINGS = Settings.model_construct()  # defaults only: no environment, no .env


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (AppError, GraphQLError))


def present_error(error: GraphQLError) -> None:
    """Rewrite ``error`` in place into what the client may see."""
    original = error.original_error
    if isinstance(original, AppError):
        error.message = original.message
        error.extensions = {**original.extensions, "code": original.code}
    elif is_unexpected(error):
        error.message = INTERNAL_MESSAGE
        error.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        error.original_error = None
    else:
        error.extensions = {"code": "BAD_USER_INPUT", **(error.extensions or {})}


class OperationTimedOut(AppError):
    """A query or mutation ran past OPERATION_TIMEOUT_SECONDS; what it had not committed is rolled back."""


class AppSchema(Schema):
    async def _execute_operation(self, execution_context: ExecutionContext, *args: Any, **kwargs: Any) -> Any:
        # Queries and mutations, over HTTP or a websocket, come through here; subscriptions do not.
        if has_nul(execution_context.variables):
            raise BadUserInput(NUL_MESSAGE)
        # A schema run without the app (no infra in the context) gets the setting's default.
        infra = getattr(execution_context.context, "infra", None)
        settings = infra.settings if infra is not None else DEFAULT_SETTINGS
        seconds: float = settings.operation_timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                return await super()._execute_operation(execution_context, *args, **kwargs)
        except TimeoutError:
            raise OperationTimedOut(f"The operation took longer than {seconds:g} s and was stopped.") from None

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,  # noqa: ARG002
    ) -> None:
        for error in errors:
            # Expected errors are answers, not incidents: only bugs are logged (redacted by the log filter).
            if is_unexpected(error):
                logger.error("unexpected error in %s", error.path, exc_info=error.original_error)
            present_error(error)
