"""Long-lived resources of one app instance, built once by the lifespan."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from redis.asyncio import Redis

from app.auth.passwords import Passwords
from app.auth.service import AuthConfig
from app.auth.sockets import LiveSockets
from app.broker.base import Broker
from app.broker.factory import build_broker
from app.chats import attachments
from app.config import Settings
from app.db import Database, utcnow
from app.generation.runner import Generations
from app.keys.passphrase import KdfParams
from app.keys.service import ProviderAccess, Vault
from app.keys.unlocked import UnlockedVaults
from app.providers.catalog import CatalogCache
from app.providers.http import ProviderHttp
from app.ratelimit.factory import build_counters
from app.ratelimit.limits import RateLimits
from app.storage import files
from app.storage.base import Storage
from app.storage.factory import build_storage

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Infra:
    settings: Settings
    db: Database
    auth: AuthConfig
    vault: Vault
    redis: Redis | None
    broker: Broker
    provider_http: ProviderHttp
    provider_access: ProviderAccess
    storage: Storage
    vault_kdf: KdfParams
    sockets: LiveSockets
    rate_limits: RateLimits
    _janitor: asyncio.Task[None] = field(init=False)
    generations: Generations

    @classmethod
    def build(cls, settings: Settings) -> Infra:
        passwords = Passwords(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        auth = AuthConfig(
            passwords=passwords,
            secret_key=settings.require_secret_key(),
            session_ttl=timedelta(seconds=settings.session_ttl_seconds),
        )
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        db = Database.from_url(settings.resolved_database_url)
        vault = Vault.from_secrets(
            settings.require_master_key(),
            *(key.get_secret_value() for key in settings.master_key_previous),
            unlocked=UnlockedVaults(redis, settings.vault_unlock_seconds),
        )
        broker = build_broker(redis)
        provider_http = ProviderHttp(allow_private_endpoints=settings.allow_private_endpoints)
        storage = build_storage(settings)
        return cls(
            settings=settings,
            db=db,
            auth=auth,
            vault=vault,
            redis=redis,
            broker=broker,
            provider_http=provider_http,
            provider_access=ProviderAccess(settings=settings, http=provider_http, catalogs=CatalogCache(redis)),
            storage=storage,
            vault_kdf=KdfParams(
                time_cost=settings.argon2_time_cost,
                memory_cost_kib=settings.argon2_memory_cost_kib,
                parallelism=settings.argon2_parallelism,
            ),
            sockets=LiveSockets(broker),
            rate_limits=RateLimits(build_counters(redis), settings),
            generations=Generations(
                db=db, broker=broker, vault=vault, settings=settings, http=provider_http, storage=storage
            ),
        )

    async def start(self) -> None:
        await self.storage.start()
        self._janitor = asyncio.create_task(self._remove_unsent_files(), name="unsent-files")
        await self.broker.start()
        self.sockets.start()
        # The embedded default is one process: whatever a previous run left unfinished is dead now.
        await self.generations.start_background(sole_instance=self.settings.is_embedded)

    async def _remove_unsent_files(self) -> None:
        """Uploads never sent with a message go a day after upload (checked hourly, on every instance)."""
        while True:
            try:
                async with self.db.transaction() as session:
                    keys = await attachments.claim_unsent(session, older_than=utcnow() - attachments.UNSENT_LIFETIME)
                await files.delete_objects(self.storage, keys)
            except Exception:
                logger.warning("removing unsent uploads failed", exc_info=True)
            await asyncio.sleep(3600)

    async def close(self) -> None:
        self._janitor.cancel()
        await self.generations.shutdown(grace=self.settings.shutdown_grace_seconds)
        await self.broker.close()
        await self.provider_http.aclose()
        await self.storage.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
