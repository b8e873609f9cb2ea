from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.auth.models import AuthSession
from app.db import Database, utcnow
from tests.gql import GraphQLClient, error_codes

ME = "{ me { id email name avatarUrl createdAt } }"
SIGN_IN = "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token user { email } } }"
CHANGE_PASSWORD = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }"


class TestSignUp:
    async def test_creates_account_and_signs_in(self, client: GraphQLClient) -> None:
        data = await client.data(
            'mutation { signUp(email: "Ada@Example.com", password: "analytical engine", name: " Ada ") '
            "{ token user { email name avatarUrl } } }"
        )
        payload = data["signUp"]
        assert payload["user"] == {"email": "ada@example.com", "name": "Ada", "avatarUrl": None}
        me = await client.data(ME, token=payload["token"])
        assert me["me"]["email"] == "ada@example.com"

    async def test_duplicate_email_in_any_case_is_bad_input(self, client: GraphQLClient) -> None:
        await client.sign_up(email="grace@example.com")
        body = await client.execute(
            'mutation { signUp(email: "GRACE@example.com", password: "another password") { token } }'
        )
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]

    async def test_short_password_is_bad_input(self, client: GraphQLClient) -> None:
        body = await client.execute('mutation { signUp(email: "a@example.com", password: "short") { token } }')
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "at least 8" in body["errors"][0]["message"]

    async def test_password_over_1024_bytes_is_bad_input(self, client: GraphQLClient) -> None:
        body = await client.execute(
            'mutation($p: String!) { signUp(email: "a@example.com", password: $p) { token } }',
            {"p": "é" * 513},  # 513 characters, 1,026 bytes
        )
        assert error_codes(body) == ["BAD_USER_INPUT"]

    async def test_invalid_email_is_bad_input(self, client: GraphQLClient) -> None:
        body = await client.execute('mutation { signUp(email: "not-an-email", password: "long enough") { token } }')
        assert error_codes(body) == ["BAD_USER_INPUT"]


class TestSignIn:
    async def test_email_is_case_insensitive(self, client: GraphQLClient) -> None:
        account = await client.sign_up(email="linus@example.com")
        data = await client.data(SIGN_IN, {"e": "  LINUS@Example.COM ", "p": account.password})
        assert data["signIn"]["user"] == {"email": "linus@example.com"}
        assert data["signIn"]["token"] != account.token

    async def test_wrong_password_and_unknown_email_give_the_same_error(self, client: GraphQLClient) -> None:
        await client.sign_up(email="known@example.com")
        wrong_password = await client.execute(SIGN_IN, {"e": "known@example.com", "p": "wrong password"})
        unknown_email = await client.execute(SIGN_IN, {"e": "nobody@example.com", "p": "wrong password"})
        assert wrong_password["data"] is None
        assert wrong_password["errors"][0]["message"] == unknown_email["errors"][0]["message"]
        assert error_codes(wrong_password) == error_codes(unknown_email) == ["UNAUTHENTICATED"]


class TestTokens:
    async def test_missing_or_malformed_token_means_signed_out(self, client: GraphQLClient) -> None:
        assert await client.data(ME) == {"me": None}
        assert await client.data(ME, token="lla_not-a-real-token") == {"me": None}
        response = await client.http.post(client.url, json={"query": ME}, headers={"Authorization": "Basic abc"})
        assert response.json() == {"data": {"me": None}}

    async def test_protected_field_without_token_is_unauthenticated(self, client: GraphQLClient) -> None:
        body = await client.execute("{ apiKeys { id } }", token="garbage")
        assert body["data"] is None
        assert error_codes(body) == ["UNAUTHENTICATED"]

    async def test_expired_token_means_signed_out(self, client: GraphQLClient, db: Database) -> None:
        account = await client.sign_up()
        async with db.transaction() as session:
            await session.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert await client.data(ME, token=account.token) == {"me": None}

    async def test_sign_out_revokes_only_that_token(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        other = (await client.data(SIGN_IN, {"e": account.email, "p": account.password}))["signIn"]["token"]
        assert await client.data("mutation { signOut }", token=account.token) == {"signOut": True}
        assert await client.data(ME, token=account.token) == {"me": None}
        body = await client.execute("mutation { signOut }", token=account.token)
        assert error_codes(body) == ["UNAUTHENTICATED"]
        assert (await client.data(ME, token=other))["me"]["email"] == account.email


class TestChangePassword:
    async def test_revokes_other_sessions_and_keeps_this_one(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        other = (await client.data(SIGN_IN, {"e": account.email, "p": account.password}))["signIn"]["token"]
        data = await client.data(
            CHANGE_PASSWORD, {"c": account.password, "n": "a brand new password"}, token=account.token
        )
        assert data == {"changePassword": True}
        assert (await client.data(ME, token=account.token))["me"]["email"] == account.email
        assert await client.data(ME, token=other) == {"me": None}
        old = await client.execute(SIGN_IN, {"e": account.email, "p": account.password})
        assert error_codes(old) == ["UNAUTHENTICATED"]
        await client.data(SIGN_IN, {"e": account.email, "p": "a brand new password"})

    async def test_wrong_current_password_changes_nothing(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        body = await client.execute(
            CHANGE_PASSWORD, {"c": "not my password", "n": "whatever else"}, token=account.token
        )
        assert error_codes(body) == ["BAD_USER_INPUT"]
        await client.data(SIGN_IN, {"e": account.email, "p": account.password})

    async def test_too_short_new_password_changes_nothing(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        body = await client.execute(CHANGE_PASSWORD, {"c": account.password, "n": "short"}, token=account.token)
        assert error_codes(body) == ["BAD_USER_INPUT"]
        await client.data(SIGN_IN, {"e": account.email, "p": account.password})


class TestUpdateProfile:
    async def test_sets_clears_and_keeps_the_name(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        renamed = await client.data('mutation { updateProfile(name: "Hedy") { name } }', token=account.token)
        assert renamed == {"updateProfile": {"name": "Hedy"}}
        kept = await client.data("mutation { updateProfile { name } }", token=account.token)
        assert kept == {"updateProfile": {"name": "Hedy"}}
        cleared = await client.data("mutation { updateProfile(name: null) { name } }", token=account.token)
        assert cleared == {"updateProfile": {"name": None}}

    async def test_signed_out_is_unauthenticated(self, client: GraphQLClient) -> None:
        body = await client.execute('mutation { updateProfile(name: "x") { name } }')
        assert error_codes(body) == ["UNAUTHENTICATED"]


class TestUserNode:
    async def test_own_user_resolves_and_another_is_not_found(self, client: GraphQLClient) -> None:
        alice = await client.sign_up()
        bob = await client.sign_up()
        query = "query($id: ID!) { node(id: $id) { id ... on User { email } } }"
        own = await client.data(query, {"id": alice.user_id}, token=alice.token)
        assert own == {"node": {"id": alice.user_id, "email": alice.email}}
        other = await client.execute(query, {"id": bob.user_id}, token=alice.token)
        assert other["data"] == {"node": None}
        assert error_codes(other) == ["NOT_FOUND"]
