"""Passphrase-locked vaults: at rest (service level) and through the API on one and two instances."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from sqlalchemy import select

from app.db import Database
from app.errors import BadUserInput
from app.keys import crypto, passphrase
from app.keys import service as keys_service
from app.keys.models import ApiKey, UserVault
from app.keys.service import Vault
from app.providers.base import ProviderKind
from tests.conftest import StartServer
from tests.fakes.upstream import FakeUpstream
from tests.generation.helpers import MODELS, SEND, SET_KEY, send, with_key
from tests.gql import Account, GraphQLClient, error_codes, follow_stream
from tests.keys.test_vault import SECRETS, make_user, reveal, store_keys
from tests.servers import TEST_MASTER_KEY

KDF = passphrase.KdfParams(time_cost=1, memory_cost_kib=1024, parallelism=1)
STATUS = "{ vault { enabled unlocked unlockedUntil } }"
SET_PASSPHRASE = """
mutation($p: String, $c: String) { setVaultPassphrase(passphrase: $p, currentPassphrase: $c) { enabled unlocked } }
"""
UNLOCK = "mutation($p: String!) { unlockVault(passphrase: $p) { enabled unlocked unlockedUntil } }"
LOCK = "mutation { lockVault { enabled unlocked unlockedUntil } }"
KEY_MODELS = "{ apiKeys { id models { id } } }"
PASSPHRASE = "correct horse battery staple"


async def set_passphrase(
    db: Database, vault: Vault, owner: uuid.UUID, new: str | None, current: str | None = None
) -> None:
    async with db.transaction() as session:
        key = await passphrase.set_passphrase(
            session, vault, KDF, owner_id=owner, passphrase=new, current_passphrase=current
        )
    if key is not None:
        await vault.remember_vault_key(owner, key)
    else:
        await vault.forget_vault_key(owner)


async def stored_keys(db: Database, owner: uuid.UUID) -> list[ApiKey]:
    async with db.read() as session:
        return list((await session.scalars(select(ApiKey).where(ApiKey.owner_id == owner))).all())


class TestAtRest:
    async def test_the_master_key_alone_no_longer_opens_sealed_keys(self, db: Database) -> None:
        vault = Vault.from_secrets(TEST_MASTER_KEY)
        owner = await make_user(db, "sealed@example.com")
        ids = await store_keys(db, vault, owner)
        await set_passphrase(db, vault, owner, PASSPHRASE)
        for api_key in await stored_keys(db, owner):
            assert api_key.sealed
            with pytest.raises(crypto.DecryptionError):
                crypto.open_envelope(vault.keyring, keys_service.envelope_of(api_key), keys_service.aad_of(api_key))
        # Open, they work; locked, they are refused with VaultLocked, never garbage.
        assert await reveal(db, vault, owner, ids[next(iter(SECRETS))]) == next(iter(SECRETS.values()))
        await vault.forget_vault_key(owner)
        with pytest.raises(keys_service.VaultLocked):
            await reveal(db, vault, owner, ids[next(iter(SECRETS))])
        async with db.read() as session:
            stored = await session.get(UserVault, owner)
        assert stored is not None
        assert PASSPHRASE.encode() not in stored.salt + stored.wrapped_vault_key

    async def test_changing_rewraps_every_key_and_dropping_unseals_them(self, db: Database) -> None:
        vault = Vault.from_secrets(TEST_MASTER_KEY)
        owner = await make_user(db, "change@example.com")
        ids = await store_keys(db, vault, owner)
        await set_passphrase(db, vault, owner, PASSPHRASE)
        before = {key.id: key.wrapped_data_key for key in await stored_keys(db, owner)}

        with pytest.raises(passphrase.WrongPassphrase):
            await set_passphrase(db, vault, owner, "another passphrase", current="not the one")
        with pytest.raises(BadUserInput):
            await set_passphrase(db, vault, owner, "another passphrase")  # the current one is required
        assert {key.id: key.wrapped_data_key for key in await stored_keys(db, owner)} == before

        await set_passphrase(db, vault, owner, "another passphrase", current=PASSPHRASE)
        after = {key.id: key.wrapped_data_key for key in await stored_keys(db, owner)}
        assert all(after[key_id] != before[key_id] for key_id in before)
        for provider, key_id in ids.items():
            assert await reveal(db, vault, owner, key_id) == SECRETS[provider]
        async with db.read() as session:
            with pytest.raises(passphrase.WrongPassphrase):
                await passphrase.unlock(session, vault, owner_id=owner, passphrase=PASSPHRASE)

        await set_passphrase(db, vault, owner, None, current="another passphrase")
        await vault.forget_vault_key(owner)
        assert not any(key.sealed for key in await stored_keys(db, owner))
        for provider, key_id in ids.items():
            assert await reveal(db, vault, owner, key_id) == SECRETS[provider]

    async def test_master_key_rotation_carries_sealed_keys_over(self, db: Database) -> None:
        vault = Vault.from_secrets(TEST_MASTER_KEY)
        owner = await make_user(db, "rotate-sealed@example.com")
        ids = await store_keys(db, vault, owner)
        await set_passphrase(db, vault, owner, PASSPHRASE)
        new_secret = "a-brand-new-master-key-0123456789abcdefghij"
        async with db.transaction() as session:
            assert await keys_service.rotate_master_key(session, vault, crypto.MasterKey.from_secret(new_secret)) == 3
        rotated = Vault.from_secrets(new_secret)
        async with db.read() as session:
            await passphrase.unlock(session, rotated, owner_id=owner, passphrase=PASSPHRASE)
        for provider, key_id in ids.items():
            assert await reveal(db, rotated, owner, key_id) == SECRETS[provider]


async def locked_account(api: GraphQLClient) -> tuple[Account, str]:
    account, key = await with_key(api)
    await api.data(SET_PASSPHRASE, {"p": PASSPHRASE}, token=account.token)
    await api.data(LOCK, token=account.token)
    return account, key


class TestThroughTheApi:
    async def test_status_set_lock_unlock(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        assert (await client.data(STATUS, token=account.token))["vault"] == {
            "enabled": False,
            "unlocked": True,
            "unlockedUntil": None,
        }
        body = await client.execute(SET_PASSPHRASE, {"p": "short"}, token=account.token)
        assert error_codes(body) == ["BAD_USER_INPUT"]
        set_ = await client.data(SET_PASSPHRASE, {"p": PASSPHRASE}, token=account.token)
        assert set_["setVaultPassphrase"] == {"enabled": True, "unlocked": True}
        locked = (await client.data(LOCK, token=account.token))["lockVault"]
        assert locked == {"enabled": True, "unlocked": False, "unlockedUntil": None}
        wrong = await client.execute(UNLOCK, {"p": "not my passphrase"}, token=account.token)
        assert error_codes(wrong) == ["BAD_USER_INPUT"]
        assert "not my passphrase" not in json.dumps(wrong)
        opened = (await client.data(UNLOCK, {"p": PASSPHRASE}, token=account.token))["unlockVault"]
        assert opened["unlocked"]
        assert opened["unlockedUntil"] is not None

    async def test_a_locked_vault_fails_fast_and_stores_nothing(
        self, client: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await locked_account(client)
        payload = {"content": "hello", "provider": "OPENAI", "model": MODELS["OPENAI"]}
        refused = await client.execute(SEND, {"input": payload}, token=account.token)
        assert error_codes(refused) == ["FORBIDDEN"]
        assert refused["errors"][0]["extensions"]["reason"] == "VAULT_LOCKED"
        assert "locked" in refused["errors"][0]["message"]
        assert (await client.data("{ chats { edges { node { id } } } }", token=account.token))["chats"]["edges"] == []
        assert upstream.requests(key) == []
        # New keys cannot be sealed while locked either.
        another = await client.execute(SET_KEY, {"p": "GEMINI", "k": "AIza" + uuid.uuid4().hex}, token=account.token)
        assert error_codes(another) == ["FORBIDDEN"]
        # Model lists fall back to the built-in list without the key.
        listings = upstream.model_listings(key)
        models = (await client.data(KEY_MODELS, token=account.token))["apiKeys"][0]["models"]
        assert models
        assert upstream.model_listings(key) == listings

        await client.data(UNLOCK, {"p": PASSPHRASE}, token=account.token)
        answer = (await send(client, account))["assistantMessage"]
        events = await follow_stream(client.ws_url, account.token, answer["id"])
        assert events[-1]["__typename"] == "MessageCompleted"
        assert upstream.requests(key)[-1].api_key == key

    async def test_unlocked_on_one_instance_is_unlocked_on_all(
        self, client: GraphQLClient, client_b: GraphQLClient
    ) -> None:
        account, _ = await locked_account(client)
        await client.data(UNLOCK, {"p": PASSPHRASE}, token=account.token)
        answer = (await send(client_b, account))["assistantMessage"]
        assert (await follow_stream(client_b.ws_url, account.token, answer["id"]))[-1]["__typename"] == (
            "MessageCompleted"
        )
        await client_b.data(LOCK, token=account.token)
        payload = {"content": "again", "provider": "OPENAI", "model": MODELS["OPENAI"]}
        assert error_codes(await client.execute(SEND, {"input": payload}, token=account.token)) == ["FORBIDDEN"]

    async def test_the_vault_locks_itself_after_the_unlock_period(self, start_server: StartServer) -> None:
        brief = start_server(name="brief-unlock", VAULT_UNLOCK_SECONDS="1")
        async with httpx.AsyncClient(timeout=30) as http:
            api = GraphQLClient(http, brief.graphql_url, brief.ws_url)
            account, _ = await locked_account(api)
            await api.data(UNLOCK, {"p": PASSPHRASE}, token=account.token)
            assert (await api.data(STATUS, token=account.token))["vault"]["unlocked"]
            await asyncio.sleep(1.3)
            assert not (await api.data(STATUS, token=account.token))["vault"]["unlocked"]
            payload = {"content": "late", "provider": "OPENAI", "model": MODELS["OPENAI"]}
            assert error_codes(await api.execute(SEND, {"input": payload}, token=account.token)) == ["FORBIDDEN"]

    async def test_guessing_passphrases_is_rate_limited(self, start_server: StartServer) -> None:
        strict = start_server(name="vault-guesses", AUTH_FREE_FAILURES="2", AUTH_MAX_LOCKOUT_SECONDS="60")
        async with httpx.AsyncClient(timeout=30) as http:
            api = GraphQLClient(http, strict.graphql_url, strict.ws_url)
            account, _ = await locked_account(api)
            for _ in range(2):
                assert error_codes(await api.execute(UNLOCK, {"p": "a wrong guess"}, token=account.token)) == [
                    "BAD_USER_INPUT"
                ]
            refused = await api.execute(UNLOCK, {"p": PASSPHRASE}, token=account.token)
            assert error_codes(refused) == ["RATE_LIMITED"]
            assert refused["errors"][0]["extensions"]["retryAfter"] >= 1

    async def test_dropping_the_passphrase_needs_the_current_one(self, client: GraphQLClient) -> None:
        account, _ = await locked_account(client)
        assert error_codes(await client.execute(SET_PASSPHRASE, {"p": None}, token=account.token)) == ["BAD_USER_INPUT"]
        wrong = await client.execute(SET_PASSPHRASE, {"p": None, "c": "wrong passphrase"}, token=account.token)
        assert error_codes(wrong) == ["BAD_USER_INPUT"]
        dropped = await client.data(SET_PASSPHRASE, {"p": None, "c": PASSPHRASE}, token=account.token)
        assert dropped["setVaultPassphrase"] == {"enabled": False, "unlocked": True}
        answer = (await send(client, account))["assistantMessage"]
        assert (await follow_stream(client.ws_url, account.token, answer["id"]))[-1]["__typename"] == "MessageCompleted"


async def test_a_key_stored_while_a_passphrase_is_set_is_never_left_unsealed(db: Database) -> None:
    vault = Vault.from_secrets(TEST_MASTER_KEY)
    owner = await make_user(db, "race@example.com")
    new_key = await keys_service.prepare_key(
        provider=ProviderKind.OPENAI,
        key="sk-race-0123456789abcdef",
        base_url=None,
        label="raced",
        allow_private=False,
        access=None,
    )

    async def store() -> None:
        async with db.transaction() as session:
            await keys_service.store_key(session, vault, owner_id=owner, new_key=new_key)

    async with db.transaction() as session:
        vault_key = await passphrase.set_passphrase(
            session, vault, KDF, owner_id=owner, passphrase=PASSPHRASE, current_passphrase=None
        )
        storing = asyncio.create_task(store())
        await asyncio.sleep(0.3)
        assert not storing.done()  # waits for the passphrase to be set
    assert vault_key is not None
    with pytest.raises(keys_service.VaultLocked):
        await storing  # the vault is set now, but not open: refused rather than stored unsealed
    assert all(key.sealed for key in await stored_keys(db, owner))
    await vault.remember_vault_key(owner, vault_key)
    await store()
    assert [key.sealed for key in await stored_keys(db, owner)] == [True]
