from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamps, UUIDPrimaryKey
from app.providers.base import ProviderKind


class Role(enum.Enum):
    USER = "USER"
    ASSISTANT = "ASSISTANT"


class MessageStatus(enum.Enum):
    PENDING = "PENDING"
    STREAMING = "STREAMING"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"

    @property
    def is_final(self) -> bool:
        return self not in (MessageStatus.PENDING, MessageStatus.STREAMING)


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=32, validate_strings=True)


class Chat(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "chats"
    __table_args__ = (Index("ix_chats_owner_id_updated_at", "owner_id", "updated_at", "id"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[ProviderKind | None] = mapped_column(_enum(ProviderKind))
    model: Mapped[str | None] = mapped_column(String(200))
    pinned: Mapped[bool] = mapped_column(default=False)
    archived: Mapped[bool] = mapped_column(default=False)
    # The last message of the branch the user is looking at; the conversation is its path to the root.
    active_leaf_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL", use_alter=True)
    )


class Message(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "messages"

    chat_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MessageStatus] = mapped_column(_enum(MessageStatus), index=True)
    provider: Mapped[ProviderKind | None] = mapped_column(_enum(ProviderKind))
    model: Mapped[str | None] = mapped_column(String(200))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    temperature: Mapped[float | None]
    max_tokens: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(32))
    input_tokens: Mapped[int | None]
    output_tokens: Mapped[int | None]
    # How many stream chunks the content is made of (the index the next chunk would get).
    chunk_count: Mapped[int] = mapped_column(default=0)
    # JSON list of where each chunk ends in `content` (cumulative), so any run of chunks can be
    # served by number from the database when a broker's replay buffer no longer has it.
    chunk_offsets: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
    # While PENDING/STREAMING: which instance runs the generation, and until when its claim holds
    # without a heartbeat. An expired claim means the instance died: the answer is INTERRUPTED.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]


class Attachment(UUIDPrimaryKey, Base):
    """An uploaded file; it belongs to one message once sent with it (until then, to nobody)."""

    __tablename__ = "attachments"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime]
