"""Per-request GraphQL context: infrastructure, the caller's identity, DataLoaders."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from app.auth.loaders import users_loader
from app.auth.models import User
from app.auth.service import Identity
from app.chats.loaders import attachments_loader, chats_loader, message_attachments_loader, messages_loader
from app.chats.models import Attachment, Chat, Message
from app.db import Database
from app.infra import Infra
from app.keys.loaders import api_keys_loader
from app.keys.models import ApiKey


@dataclass(slots=True)
class Loaders:
    users: DataLoader[uuid.UUID, User | None]
    api_keys: DataLoader[uuid.UUID, ApiKey | None]
    chats: DataLoader[uuid.UUID, Chat | None]
    messages: DataLoader[uuid.UUID, Message | None]
    attachments: DataLoader[uuid.UUID, Attachment | None]
    message_attachments: DataLoader[uuid.UUID, list[Attachment]]


def build_loaders(db: Database, user_id: uuid.UUID | None) -> Loaders:
    return Loaders(
        users=users_loader(db, user_id),
        api_keys=api_keys_loader(db, user_id),
        chats=chats_loader(db, user_id),
        messages=messages_loader(db, user_id),
        attachments=attachments_loader(db, user_id),
        message_attachments=message_attachments_loader(db, user_id),
    )


@dataclass(slots=True)
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    infra: Infra
    identity: Identity | None
    loaders: Loaders
    # Set by Strawberry from the graphql-transport-ws connection_init payload.
    connection_params: dict[str, Any] | None = field(default=None)
    # A websocket's entry in LiveSockets, dropped when the socket ends.
    detach_socket: Callable[[], None] | None = field(default=None)

    @property
    def db(self) -> Database:
        return self.infra.db

    @property
    def client_address(self) -> str | None:
        """The peer's address (uvicorn puts the proxy's X-Forwarded-For there when it is trusted)."""
        client = self.request.client
        return client.host if client is not None else None

    def sign_in_as(self, identity: Identity | None) -> None:
        self.identity = identity
        self.loaders = build_loaders(self.infra.db, identity.user_id if identity else None)
