"""Settings under the contract names, and the embedded default's generated secrets.

With nothing set the service runs embedded: SQLite under ``./data/``, secrets
generated once into ``./data/`` (mode 0600) and reused. On PostgreSQL the
operator must provide ``SECRET_KEY`` and ``MASTER_KEY``: a production secret
that silently appeared on one instance's disk would differ on the next.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """Start-up configuration that cannot work; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_region: str = "us-east-1"
    secret_key: SecretStr | None = None
    master_key: SecretStr | None = None
    # Older master keys still able to open envelopes while a rotation rolls out (comma-separated).
    master_key_previous: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    openai_base_url: str | None = None
    gemini_base_url: str | None = None
    anthropic_base_url: str | None = None
    allow_private_endpoints: bool = False
    max_upload_bytes: int = 20 * 1024 * 1024

    # Beyond the contract: tuning knobs with production defaults.
    session_ttl_seconds: int = 30 * 24 * 3600
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 64 * 1024
    argon2_parallelism: int = 4
    log_level: str = "INFO"
    graphql_introspection: bool = True  # the schema is public anyway (schema.graphql)
    max_request_bytes: int = 2 * 1024 * 1024  # JSON requests; uploads have MAX_UPLOAD_BYTES
    trusted_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Rate limits (per minute unless named otherwise); see README "Security".
    auth_attempts_per_minute: int = 10  # sign-in + sign-up, per client address and per email
    auth_free_failures: int = 5  # failed sign-ins per email before the lockouts start doubling
    auth_max_lockout_seconds: float = 900.0
    messages_per_minute: int = 30  # sendMessage + regenerateMessage, per user
    max_concurrent_generations: int = 4  # answers being written at once, per user
    uploads_per_minute: int = 30  # per user
    vault_unlock_seconds: float = 900.0  # how long unlockVault keeps a passphrase-locked vault open
    operation_timeout_seconds: float = 10.0  # queries and mutations; subscriptions run as long as they stream
    # Websockets: connection_init must come within WS_INIT_TIMEOUT_SECONDS; pings every
    # WS_PING_INTERVAL_SECONDS drop a peer that has not answered within WS_PING_TIMEOUT_SECONDS more.
    ws_init_timeout_seconds: float = 5.0
    ws_max_operations: int = 20
    ws_max_frame_bytes: int = 64 * 1024
    ws_ping_interval_seconds: float = 20.0
    ws_ping_timeout_seconds: float = 20.0
    # Generations: how long an instance's claim on a running answer lasts without a heartbeat,
    # how long a silent provider may stall, how long SIGTERM waits for running answers.
    generation_lease_seconds: float = 15.0
    stall_timeout_seconds: float = 60.0
    shutdown_grace_seconds: float = 20.0
    retry_base_delay_seconds: float = 0.5
    retry_max_delay_seconds: float = 8.0

    @field_validator("cors_origins", "master_key_previous", "trusted_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'app.db'}"

    @property
    def is_embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "files"

    def require_secret_key(self) -> str:
        if self.secret_key is None:
            raise ConfigError("SECRET_KEY is not set")
        return self.secret_key.get_secret_value()

    def require_master_key(self) -> str:
        if self.master_key is None:
            raise ConfigError("MASTER_KEY is not set")
        return self.master_key.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with the secrets resolved or a ConfigError."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    return ensure_secrets(settings)


def ensure_secrets(settings: Settings) -> Settings:
    updates: dict[str, SecretStr] = {}
    for name in ("secret_key", "master_key"):
        value: SecretStr | None = getattr(settings, name)
        env_name = name.upper()
        if value is None:
            if not settings.is_embedded:
                raise ConfigError(
                    f"{env_name} is not set: a PostgreSQL deployment needs SECRET_KEY and MASTER_KEY "
                    f"(at least {MIN_SECRET_LENGTH} characters each; generate one with "
                    '`python -c "import secrets; print(secrets.token_urlsafe(32))"`)'
                )
            updates[name] = SecretStr(_embedded_secret(settings.data_dir, name))
        elif len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{env_name} is too short: use at least {MIN_SECRET_LENGTH} characters")
    return settings.model_copy(update=updates) if updates else settings


def _embedded_secret(data_dir: Path, name: str) -> str:
    """Read ``data_dir/name``, creating it once with a fresh secret and mode 0600."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def write_embedded_secret(data_dir: Path, name: str, value: str) -> None:
    """Replace an embedded secret file atomically, keeping mode 0600."""
    path = data_dir / name
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    tmp.replace(path)
