from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from app.auth.service import Identity
from app.context import Context
from app.errors import Unauthenticated

SIGN_IN_FIRST = "Sign in first: send `Authorization: Bearer <token>`."


class IsAuthenticated(BasePermission):
    message = SIGN_IN_FIRST
    error_extensions = {"code": "UNAUTHENTICATED"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:  # noqa: ARG002
        return info.context.identity is not None


def require_identity(info: Info[Context, Any]) -> Identity:
    identity = info.context.identity
    if identity is None:
        raise Unauthenticated(SIGN_IN_FIRST)
    return identity
