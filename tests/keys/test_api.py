from __future__ import annotations

import pytest

from tests.gql import Account, GraphQLClient, error_codes

SET_KEY = """
mutation($provider: ProviderKind!, $key: String!, $baseUrl: String, $label: String) {
  setApiKey(provider: $provider, key: $key, baseUrl: $baseUrl, label: $label) {
    id provider label baseUrl hint lastUsedAt models { id supportsVision }
  }
}
"""
API_KEYS = "{ apiKeys { id provider label baseUrl hint } }"
DELETE_KEY = "mutation($id: ID!) { deleteApiKey(id: $id) }"
OPENAI_KEY = "sk-proj-Zx81abcdefghijklmnopqrstuv9Qw2"


async def set_key(client: GraphQLClient, account: Account, **variables: str | None) -> dict[str, object]:
    data = await client.data(SET_KEY, {"provider": "OPENAI", "key": OPENAI_KEY, **variables}, token=account.token)
    result: dict[str, object] = data["setApiKey"]
    return result


class TestSetApiKey:
    async def test_stores_the_key_and_returns_only_a_hint(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        body = await client.execute(SET_KEY, {"provider": "OPENAI", "key": OPENAI_KEY}, token=account.token)
        assert OPENAI_KEY not in str(body)
        stored = body["data"]["setApiKey"]
        assert stored["hint"] == "sk-proj-…9Qw2"
        assert (stored["provider"], stored["label"], stored["baseUrl"], stored["lastUsedAt"]) == (
            "OPENAI",
            None,
            None,
            None,
        )
        assert {"id": "gpt-4o", "supportsVision": True} in stored["models"]
        listed = await client.data(API_KEYS, token=account.token)
        assert listed == {
            "apiKeys": [
                {"id": stored["id"], "provider": "OPENAI", "label": None, "baseUrl": None, "hint": "sk-proj-…9Qw2"}
            ]
        }

    async def test_same_provider_and_label_replaces_the_key(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        first = await set_key(client, account)
        second = await set_key(client, account, key="sk-ReplacementKey000000000000abcd")
        assert second["id"] == first["id"]
        assert second["hint"] == "sk-…abcd"
        assert len((await client.data(API_KEYS, token=account.token))["apiKeys"]) == 1

    async def test_another_label_keeps_both(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        await set_key(client, account, label="work")
        await set_key(client, account, label="personal")
        labels = [key["label"] for key in (await client.data(API_KEYS, token=account.token))["apiKeys"]]
        assert sorted(labels) == ["personal", "work"]

    async def test_openai_compatible_key_on_a_private_address_is_refused_by_default(
        self, client: GraphQLClient
    ) -> None:
        account = await client.sign_up()
        for url in (
            "http://127.0.0.1:11434/v1",
            "http://localhost:11434/v1",
            "http://[::1]:8000",
            "http://10.0.0.1/v1",
            "http://169.254.169.254/latest",
            "http://[::ffff:127.0.0.1]:8000/v1",
        ):
            body = await client.execute(
                SET_KEY, {"provider": "OPENAI_COMPATIBLE", "key": "local-key", "baseUrl": url}, token=account.token
            )
            assert error_codes(body) == ["BAD_USER_INPUT"], url
            assert "ALLOW_PRIVATE_ENDPOINTS" in body["errors"][0]["message"]
        assert await client.data(API_KEYS, token=account.token) == {"apiKeys": []}

    @pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.com/"])
    async def test_openai_compatible_url_schemes_other_than_http_are_refused(
        self, client: GraphQLClient, url: str
    ) -> None:
        account = await client.sign_up()
        body = await client.execute(
            SET_KEY, {"provider": "OPENAI_COMPATIBLE", "key": "local-key", "baseUrl": url}, token=account.token
        )
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "http" in body["errors"][0]["message"]

    async def test_providers_report_configured(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        await set_key(client, account, provider="GEMINI", key="AIzaSyD-1234567890abcdefghijklmnopqrs")
        data = await client.data("{ providers { kind name configured } }", token=account.token)
        configured = {p["kind"]: p["configured"] for p in data["providers"]}
        assert configured == {"OPENAI": False, "GEMINI": True, "ANTHROPIC": False, "OPENAI_COMPATIBLE": False}
        signed_out = await client.data("{ providers { kind configured } }")
        assert not any(p["configured"] for p in signed_out["providers"])


class TestSetApiKeyBadInput:
    async def assert_rejected(self, client: GraphQLClient, account: Account, **variables: str | None) -> None:
        body = await client.execute(
            SET_KEY, {"provider": "OPENAI", "key": OPENAI_KEY, **variables}, token=account.token
        )
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        key = variables.get("key")
        if key and len(key) > 4:
            assert key not in str(body)
        assert await client.data(API_KEYS, token=account.token) == {"apiKeys": []}

    async def test_empty_key(self, client: GraphQLClient) -> None:
        await self.assert_rejected(client, await client.sign_up(), key="   ")

    async def test_key_over_4_kb(self, client: GraphQLClient) -> None:
        await self.assert_rejected(client, await client.sign_up(), key="sk-" + "a" * 4096)

    async def test_key_with_spaces(self, client: GraphQLClient) -> None:
        await self.assert_rejected(client, await client.sign_up(), key="sk-abc def-ghijklmnop")

    async def test_openai_compatible_without_base_url(self, client: GraphQLClient) -> None:
        await self.assert_rejected(client, await client.sign_up(), provider="OPENAI_COMPATIBLE")

    async def test_base_url_that_is_not_http(self, client: GraphQLClient) -> None:
        await self.assert_rejected(
            client, await client.sign_up(), provider="OPENAI_COMPATIBLE", baseUrl="file:///etc/passwd"
        )

    async def test_base_url_on_a_first_party_provider(self, client: GraphQLClient) -> None:
        await self.assert_rejected(client, await client.sign_up(), baseUrl="https://example.com/v1")

    async def test_unknown_provider_is_a_validation_error(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        body = await client.execute(SET_KEY, {"provider": "NOPE", "key": OPENAI_KEY}, token=account.token)
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "NOPE" in body["errors"][0]["message"]

    async def test_signed_out(self, client: GraphQLClient) -> None:
        body = await client.execute(SET_KEY, {"provider": "OPENAI", "key": OPENAI_KEY})
        assert error_codes(body) == ["UNAUTHENTICATED"]


class TestDeleteApiKey:
    async def test_deletes_own_key(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        stored = await set_key(client, account)
        assert await client.data(DELETE_KEY, {"id": stored["id"]}, token=account.token) == {"deleteApiKey": True}
        assert await client.data(API_KEYS, token=account.token) == {"apiKeys": []}
        again = await client.execute(DELETE_KEY, {"id": stored["id"]}, token=account.token)
        assert error_codes(again) == ["NOT_FOUND"]

    async def test_another_users_key_is_not_found_and_stays(self, client: GraphQLClient) -> None:
        alice = await client.sign_up()
        bob = await client.sign_up()
        stored = await set_key(client, alice)
        body = await client.execute(DELETE_KEY, {"id": stored["id"]}, token=bob.token)
        assert body["data"] is None
        assert error_codes(body) == ["NOT_FOUND"]
        assert len((await client.data(API_KEYS, token=alice.token))["apiKeys"]) == 1

    async def test_an_id_of_another_type_is_not_found(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        body = await client.execute(DELETE_KEY, {"id": account.user_id}, token=account.token)
        assert error_codes(body) == ["NOT_FOUND"]


class TestApiKeyIsolation:
    async def test_lists_and_nodes_show_only_own_keys(self, client: GraphQLClient) -> None:
        alice = await client.sign_up()
        bob = await client.sign_up()
        stored = await set_key(client, alice)
        assert await client.data(API_KEYS, token=bob.token) == {"apiKeys": []}
        query = "query($id: ID!) { node(id: $id) { id ... on ApiKey { hint } } }"
        own = await client.data(query, {"id": stored["id"]}, token=alice.token)
        assert own == {"node": {"id": stored["id"], "hint": stored["hint"]}}
        other = await client.execute(query, {"id": stored["id"]}, token=bob.token)
        assert other["data"] == {"node": None}
        assert error_codes(other) == ["NOT_FOUND"]
