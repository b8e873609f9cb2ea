from __future__ import annotations

from typing import Any

from tests.gql import Account, GraphQLClient, error_codes

CREATE = """
mutation($title: String, $systemPrompt: String, $provider: ProviderKind, $model: String) {
  createChat(title: $title, systemPrompt: $systemPrompt, provider: $provider, model: $model) {
    id title systemPrompt provider model pinned archived createdAt updatedAt
    messages { edges { node { id } } pageInfo { hasNextPage hasPreviousPage } }
  }
}
"""
UPDATE = """
mutation($id: ID!, $title: String, $systemPrompt: String, $pinned: Boolean, $archived: Boolean, $model: String) {
  updateChat(id: $id, title: $title, systemPrompt: $systemPrompt, pinned: $pinned, archived: $archived, model: $model) {
    id title systemPrompt model pinned archived
  }
}
"""
CHATS = """
query($first: Int, $after: String, $archived: Boolean, $search: String) {
  chats(first: $first, after: $after, archived: $archived, search: $search) {
    edges { cursor node { id title } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
CHAT = "query($id: ID!) { chat(id: $id) { id title } }"
DELETE = "mutation($id: ID!) { deleteChat(id: $id) }"


async def create(client: GraphQLClient, account: Account, **variables: Any) -> dict[str, Any]:
    data = await client.data(CREATE, variables, token=account.token)
    chat: dict[str, Any] = data["createChat"]
    return chat


async def titles(client: GraphQLClient, account: Account, **variables: Any) -> list[str]:
    data = await client.data(CHATS, variables, token=account.token)
    return [edge["node"]["title"] for edge in data["chats"]["edges"]]


class TestCreateChat:
    async def test_defaults_and_fields(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        empty = await create(client, account)
        assert (empty["title"], empty["systemPrompt"], empty["provider"], empty["model"]) == (
            "New chat",
            None,
            None,
            None,
        )
        assert (empty["pinned"], empty["archived"]) == (False, False)
        assert empty["messages"] == {"edges": [], "pageInfo": {"hasNextPage": False, "hasPreviousPage": False}}
        full = await create(
            client,
            account,
            title="  Trip   plans ",
            systemPrompt="Be brief.",
            provider="GEMINI",
            model="gemini-2.0-flash",
        )
        assert (full["title"], full["systemPrompt"], full["provider"], full["model"]) == (
            "Trip plans",
            "Be brief.",
            "GEMINI",
            "gemini-2.0-flash",
        )

    async def test_bad_title_and_model_are_bad_input(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        for variables in ({"title": "   "}, {"title": "x" * 201}, {"model": "bad model name"}):
            body = await client.execute(CREATE, variables, token=account.token)
            assert error_codes(body) == ["BAD_USER_INPUT"], variables
        assert await titles(client, account) == []


class TestUpdateChat:
    async def test_changes_only_what_is_given(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        chat = await create(client, account, title="Old", systemPrompt="Keep me", model="gpt-4o")
        updated = await client.data(UPDATE, {"id": chat["id"], "title": "New", "pinned": True}, token=account.token)
        assert updated["updateChat"] == {
            "id": chat["id"],
            "title": "New",
            "systemPrompt": "Keep me",
            "model": "gpt-4o",
            "pinned": True,
            "archived": False,
        }
        cleared = await client.data(
            UPDATE, {"id": chat["id"], "systemPrompt": None, "model": None}, token=account.token
        )
        assert (cleared["updateChat"]["systemPrompt"], cleared["updateChat"]["model"]) == (None, None)
        assert cleared["updateChat"]["title"] == "New"

    async def test_archived_chats_leave_the_main_list(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        chat = await create(client, account, title="Old news")
        await create(client, account, title="Current")
        await client.data(UPDATE, {"id": chat["id"], "archived": True}, token=account.token)
        assert await titles(client, account) == ["Current"]
        assert await titles(client, account, archived=True) == ["Old news"]

    async def test_another_users_chat_is_not_found_and_unchanged(self, client: GraphQLClient) -> None:
        alice = await client.sign_up()
        bob = await client.sign_up()
        chat = await create(client, alice, title="Mine")
        body = await client.execute(UPDATE, {"id": chat["id"], "title": "Stolen"}, token=bob.token)
        assert body["data"] is None
        assert error_codes(body) == ["NOT_FOUND"]
        assert await titles(client, alice) == ["Mine"]


class TestListChats:
    async def test_most_recently_updated_first_with_cursor_pages(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        ids = [(await create(client, account, title=f"chat {n}"))["id"] for n in range(5)]
        await client.data(UPDATE, {"id": ids[1], "pinned": True}, token=account.token)  # bumps chat 1
        first = (await client.data(CHATS, {"first": 2}, token=account.token))["chats"]
        assert [edge["node"]["title"] for edge in first["edges"]] == ["chat 1", "chat 4"]
        assert first["pageInfo"]["hasNextPage"] is True
        assert first["pageInfo"]["hasPreviousPage"] is False
        assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
        second = (await client.data(CHATS, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token=account.token))[
            "chats"
        ]
        assert [edge["node"]["title"] for edge in second["edges"]] == ["chat 3", "chat 2"]
        third = (await client.data(CHATS, {"first": 2, "after": second["pageInfo"]["endCursor"]}, token=account.token))[
            "chats"
        ]
        assert [edge["node"]["title"] for edge in third["edges"]] == ["chat 0"]
        assert third["pageInfo"]["hasNextPage"] is False

    async def test_search_matches_titles_case_insensitively_and_escapes_wildcards(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        await create(client, account, title="Recipe for PASTA")
        await create(client, account, title="100% done")
        await create(client, account, title="Something else")
        assert await titles(client, account, search="pasta") == ["Recipe for PASTA"]
        assert await titles(client, account, search="%") == ["100% done"]
        assert await titles(client, account, search="zzz") == []

    async def test_bad_arguments_are_bad_input(self, client: GraphQLClient) -> None:
        account = await client.sign_up()
        for variables in ({"first": -1}, {"first": 1000}, {"after": "not-a-cursor!"}):
            body = await client.execute(CHATS, variables, token=account.token)
            assert error_codes(body) == ["BAD_USER_INPUT"], variables

    async def test_only_own_chats(self, client: GraphQLClient) -> None:
        alice = await client.sign_up()
        bob = await client.sign_up()
        await create(client, alice, title="Alice's")
        assert await titles(client, bob) == []
        assert error_codes(await client.execute(CHATS)) == ["UNAUTHENTICATED"]


class TestChatAndDelete:
    async def test_chat_by_id_and_isolation(self, client: GraphQLClient) -> None:
        alice = await client.sign_up()
        bob = await client.sign_up()
        chat = await create(client, alice, title="Private")
        assert await client.data(CHAT, {"id": chat["id"]}, token=alice.token) == {
            "chat": {"id": chat["id"], "title": "Private"}
        }
        other = await client.execute(CHAT, {"id": chat["id"]}, token=bob.token)
        assert other["data"] == {"chat": None}
        assert error_codes(other) == ["NOT_FOUND"]
        node = await client.execute("query($id: ID!) { node(id: $id) { id } }", {"id": chat["id"]}, token=bob.token)
        assert error_codes(node) == ["NOT_FOUND"]

    async def test_delete(self, client: GraphQLClient) -> None:
        alice = await client.sign_up()
        bob = await client.sign_up()
        chat = await create(client, alice, title="Doomed")
        assert error_codes(await client.execute(DELETE, {"id": chat["id"]}, token=bob.token)) == ["NOT_FOUND"]
        assert await titles(client, alice) == ["Doomed"]
        assert await client.data(DELETE, {"id": chat["id"]}, token=alice.token) == {"deleteChat": True}
        assert await titles(client, alice) == []
        assert error_codes(await client.execute(CHAT, {"id": chat["id"]}, token=alice.token)) == ["NOT_FOUND"]
