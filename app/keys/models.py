from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamps, UUIDPrimaryKey
from app.providers.base import ProviderKind


class ApiKey(UUIDPrimaryKey, Timestamps, Base):
    """A user's provider credential. The secret exists only inside the envelope columns."""

    __tablename__ = "api_keys"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[ProviderKind] = mapped_column(
        Enum(ProviderKind, native_enum=False, length=32, validate_strings=True)
    )
    label: Mapped[str | None] = mapped_column(String(100))
    base_url: Mapped[str | None] = mapped_column(String(2048))
    hint: Mapped[str] = mapped_column(String(32))
    envelope_version: Mapped[int]
    master_key_id: Mapped[str] = mapped_column(String(32), index=True)
    wrapped_data_key: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # Also wrapped by the owner's vault key (set while they have a vault passphrase).
    sealed: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_used_at: Mapped[datetime | None]


class UserVault(Timestamps, Base):
    """A user's vault passphrase: their vault key, wrapped by a key derived from the passphrase.

    The passphrase itself is never stored; the argon2id parameters are, so changing the
    server's defaults never locks anyone out.
    """

    __tablename__ = "user_vaults"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    kdf_time_cost: Mapped[int]
    kdf_memory_cost_kib: Mapped[int]
    kdf_parallelism: Mapped[int]
    wrapped_vault_key: Mapped[bytes] = mapped_column(LargeBinary)
