"""The vault at rest: what the database holds, what moving ciphertexts does, master-key rotation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update

from app.auth import service as auth_service
from app.auth.passwords import Passwords
from app.db import Database
from app.keys import crypto
from app.keys import service as keys_service
from app.keys.models import ApiKey
from app.keys.service import Vault
from app.providers.base import ProviderKind
from tests.servers import TEST_MASTER_KEY, TEST_SECRET_KEY, run_cli

SECRETS = {
    ProviderKind.OPENAI: "sk-proj-OPENAIsecretvalue0000000000000001",
    ProviderKind.GEMINI: "AIzaSyGEMINIsecretvalue00000000000000002",
    ProviderKind.ANTHROPIC: "sk-ant-api03-ANTHROPICsecret0000000000003",
}


async def make_user(db: Database, email: str) -> uuid.UUID:
    passwords = Passwords(time_cost=1, memory_cost_kib=1024, parallelism=1)
    config = auth_service.AuthConfig(passwords=passwords, secret_key=TEST_SECRET_KEY, session_ttl=timedelta(days=1))
    async with db.transaction() as session:
        signed_in = await auth_service.sign_up(session, config, email=email, password="long enough password", name=None)
    return signed_in.user.id


async def store_keys(db: Database, vault: Vault, owner_id: uuid.UUID) -> dict[ProviderKind, uuid.UUID]:
    ids = {}
    async with db.transaction() as session:
        for provider, secret in SECRETS.items():
            api_key = await keys_service.set_api_key(
                session, vault, owner_id=owner_id, provider=provider, key=secret, base_url=None, label=None
            )
            ids[provider] = api_key.id
    return ids


async def reveal(db: Database, vault: Vault, owner_id: uuid.UUID, key_id: uuid.UUID) -> str:
    async with db.read() as session:
        credentials = await keys_service.reveal_credentials(session, vault, owner_id=owner_id, key_id=key_id)
        return credentials.secret


async def test_no_plaintext_key_in_any_column(db: Database, vault: Vault) -> None:
    owner = await make_user(db, "dump@example.com")
    await store_keys(db, vault, owner)
    async with db.read() as session:
        connection = await session.connection()
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        dumped: list[bytes] = []
        for table in tables:
            for row in (await session.execute(text(f'SELECT * FROM "{table}"'))).all():
                dumped.extend(value if isinstance(value, bytes) else str(value).encode() for value in row)
    blob = b"\n".join(dumped)
    for secret in SECRETS.values():
        assert secret.encode() not in blob
        assert secret[8:-4].encode() not in blob  # no substantial fragment either
    assert len(tables) >= 3


async def test_keys_round_trip(db: Database, vault: Vault) -> None:
    owner = await make_user(db, "roundtrip@example.com")
    ids = await store_keys(db, vault, owner)
    for provider, key_id in ids.items():
        assert await reveal(db, vault, owner, key_id) == SECRETS[provider]


async def test_stored_form_carries_version_and_master_key_id(db: Database, vault: Vault) -> None:
    owner = await make_user(db, "form@example.com")
    ids = await store_keys(db, vault, owner)
    async with db.read() as session:
        api_key = await session.get_one(ApiKey, ids[ProviderKind.OPENAI])
    assert api_key.envelope_version == crypto.ENVELOPE_VERSION
    assert api_key.master_key_id == vault.current.key_id


async def test_ciphertext_moved_to_another_user_fails_to_decrypt(db: Database, vault: Vault) -> None:
    alice = await make_user(db, "alice@example.com")
    bob = await make_user(db, "bob@example.com")
    alice_key = (await store_keys(db, vault, alice))[ProviderKind.OPENAI]
    bob_key = (await store_keys(db, vault, bob))[ProviderKind.OPENAI]
    async with db.transaction() as session:
        source = await session.get_one(ApiKey, alice_key)
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == bob_key)
            .values(wrapped_data_key=source.wrapped_data_key, ciphertext=source.ciphertext)
        )
    with pytest.raises(crypto.DecryptionError):
        await reveal(db, vault, bob, bob_key)
    assert await reveal(db, vault, alice, alice_key) == SECRETS[ProviderKind.OPENAI]


async def test_ciphertext_moved_to_another_row_of_the_same_user_fails(db: Database, vault: Vault) -> None:
    owner = await make_user(db, "rows@example.com")
    ids = await store_keys(db, vault, owner)
    async with db.transaction() as session:
        source = await session.get_one(ApiKey, ids[ProviderKind.OPENAI])
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == ids[ProviderKind.ANTHROPIC])
            .values(wrapped_data_key=source.wrapped_data_key, ciphertext=source.ciphertext)
        )
    with pytest.raises(crypto.DecryptionError):
        await reveal(db, vault, owner, ids[ProviderKind.ANTHROPIC])


async def test_a_wrong_master_key_does_not_open(db: Database, vault: Vault) -> None:
    owner = await make_user(db, "wrongmaster@example.com")
    ids = await store_keys(db, vault, owner)
    impostor = Vault.from_secrets("another-master-key-of-sufficient-length-000")
    with pytest.raises(crypto.DecryptionError):
        await reveal(db, impostor, owner, ids[ProviderKind.OPENAI])


async def test_rotate_master_key_command(db: Database, vault: Vault, database_url: str, tmp_path: Path) -> None:
    owner = await make_user(db, "rotate@example.com")
    ids = await store_keys(db, vault, owner)
    new_secret = "the-new-master-key-0123456789-abcdefghijklmnop"
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "MASTER_KEY": TEST_MASTER_KEY,
        "NEW_MASTER_KEY": new_secret,
    }
    result = run_cli("rotate-master-key", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "re-wrapped 3 key(s)" in result.stdout
    assert new_secret not in result.stdout + result.stderr

    new_vault = Vault.from_secrets(new_secret)
    async with db.read() as session:
        key_ids = set((await session.scalars(select(ApiKey.master_key_id))).all())
    assert key_ids == {new_vault.current.key_id}
    for provider, key_id in ids.items():
        assert await reveal(db, new_vault, owner, key_id) == SECRETS[provider]
        with pytest.raises(crypto.DecryptionError):
            await reveal(db, vault, owner, key_id)

    again = run_cli("rotate-master-key", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "re-wrapped 0 key(s)" in again.stdout


async def test_rotation_with_a_wrong_current_key_changes_nothing(
    db: Database, vault: Vault, database_url: str, tmp_path: Path
) -> None:
    owner = await make_user(db, "norotate@example.com")
    ids = await store_keys(db, vault, owner)
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "MASTER_KEY": "not-the-master-key-that-wrapped-these-000000",
        "NEW_MASTER_KEY": "the-new-master-key-0123456789-abcdefghijklmnop",
    }
    result = run_cli("rotate-master-key", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: nothing changed")
    for provider, key_id in ids.items():
        assert await reveal(db, vault, owner, key_id) == SECRETS[provider]


async def test_previous_master_key_still_opens_during_a_rollout(db: Database, vault: Vault) -> None:
    owner = await make_user(db, "rollout@example.com")
    ids = await store_keys(db, vault, owner)
    rolled = Vault.from_secrets("the-new-master-key-0123456789-abcdefghijklmnop", TEST_MASTER_KEY)
    assert await reveal(db, rolled, owner, ids[ProviderKind.GEMINI]) == SECRETS[ProviderKind.GEMINI]
