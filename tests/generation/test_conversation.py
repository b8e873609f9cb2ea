"""What reaches the provider, branches, and sendMessage's bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream, Script
from tests.generation.helpers import SEND, SET_KEY, send, with_key
from tests.gql import GraphQLClient, StreamError, error_codes, follow_stream

BRANCH = """
query($id: ID!) {
  chat(id: $id) {
    title systemPrompt provider model
    messages { edges { node { id role content status parentId } } pageInfo { hasNextPage hasPreviousPage } }
  }
}
"""


async def finish(api: GraphQLClient, token: str, sent: dict[str, Any]) -> str:
    events = await follow_stream(api.ws_url, token, sent["assistantMessage"]["id"])
    assert events[-1]["__typename"] == "MessageCompleted", events[-1]
    content: str = events[-1]["message"]["content"]
    return content


class TestConversation:
    async def test_history_and_system_prompt_reach_the_provider(
        self, api: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(tokens=["Hi ", "Ada."]), Script(tokens=["Paris."]))
        first = await send(
            api, account, content="I am Ada.", systemPrompt="Answer in one line.", temperature=0.2, maxTokens=64
        )
        chat_id = first["chat"]["id"]
        assert first["chat"]["title"] == "I am Ada."
        assert first["userMessage"]["parentId"] is None
        assert first["assistantMessage"]["parentId"] == first["userMessage"]["id"]
        assert await finish(api, account.token, first) == "Hi Ada."
        second = await send(api, account, chatId=chat_id, content="Capital of France?")
        assert second["userMessage"]["parentId"] == first["assistantMessage"]["id"]
        await finish(api, account.token, second)

        seen = upstream.requests(key)
        assert [(r.system, r.turns) for r in seen] == [
            ("Answer in one line.", [("user", "I am Ada.")]),
            ("Answer in one line.", [("user", "I am Ada."), ("assistant", "Hi Ada."), ("user", "Capital of France?")]),
        ]
        assert (seen[0].temperature, seen[0].max_tokens, seen[0].model) == (0.2, 64, "gpt-4o")
        assert seen[0].body["stream_options"] == {"include_usage": True}

    async def test_gemini_gets_history_as_user_and_model_turns(
        self, api: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(api, "GEMINI")
        upstream.script(key, Script(tokens=["Yes."]), Script(tokens=["No."]))
        first = await send(api, account, "GEMINI", content="One?", systemPrompt="Be terse.")
        await finish(api, account.token, first)
        second = await send(api, account, "GEMINI", chatId=first["chat"]["id"], content="Two?", maxTokens=10)
        await finish(api, account.token, second)
        last = upstream.requests(key)[-1]
        assert (last.system, last.turns, last.max_tokens) == (
            "Be terse.",
            [("user", "One?"), ("assistant", "Yes."), ("user", "Two?")],
            10,
        )

    async def test_anthropic_gets_the_system_prompt_apart_and_a_token_limit(
        self, api: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(api, "ANTHROPIC")
        upstream.script(key, Script(tokens=["Bonjour."]), Script(tokens=["Au revoir."]))
        first = await send(api, account, "ANTHROPIC", content="Hello?", systemPrompt="Answer in French.")
        await finish(api, account.token, first)
        second = await send(api, account, "ANTHROPIC", chatId=first["chat"]["id"], content="Bye?", temperature=1.5)
        await finish(api, account.token, second)
        first_seen, last_seen = upstream.requests(key)
        assert (first_seen.system, first_seen.turns, first_seen.max_tokens) == (
            "Answer in French.",
            [("user", "Hello?")],
            8192,
        )
        assert last_seen.turns == [("user", "Hello?"), ("assistant", "Bonjour."), ("user", "Bye?")]
        assert last_seen.temperature == 1.0  # Anthropic's range ends at 1
        assert "system" not in [role for role, _ in last_seen.turns]

    async def test_an_earlier_parent_starts_a_branch(self, api: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(tokens=["A1"]), Script(tokens=["A2"]), Script(tokens=["B2"]))
        first = await send(api, account, content="Q1")
        await finish(api, account.token, first)
        chat_id = first["chat"]["id"]
        second = await send(api, account, chatId=chat_id, content="Q2")
        await finish(api, account.token, second)
        # Edit Q2: resend from Q2's parent (the first answer).
        branch = await send(api, account, chatId=chat_id, content="Q2 edited", parentId=first["assistantMessage"]["id"])
        await finish(api, account.token, branch)

        assert upstream.requests(key)[-1].turns == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2 edited")]
        chat = (await api.data(BRANCH, {"id": chat_id}, token=account.token))["chat"]
        contents = [edge["node"]["content"] for edge in chat["messages"]["edges"]]
        assert contents == ["Q1", "A1", "Q2 edited", "B2"]
        # The old branch is still there.
        old = await api.data(
            "query($id: ID!) { node(id: $id) { ... on Message { content status } } }",
            {"id": second["assistantMessage"]["id"]},
            token=account.token,
        )
        assert old == {"node": {"content": "A2", "status": "COMPLETE"}}

    async def test_messages_connection_pages_the_branch_oldest_first(
        self, api: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(tokens=["A1"]), Script(tokens=["A2"]))
        first = await send(api, account, content="Q1")
        await finish(api, account.token, first)
        second = await send(api, account, chatId=first["chat"]["id"], content="Q2")
        await finish(api, account.token, second)
        query = """
        query($id: ID!, $first: Int, $after: String, $last: Int) {
          chat(id: $id) { messages(first: $first, after: $after, last: $last) {
            edges { cursor node { content chat { id } } } pageInfo { hasNextPage hasPreviousPage endCursor } } }
        }
        """
        page = (await api.data(query, {"id": first["chat"]["id"], "first": 3}, token=account.token))["chat"]["messages"]
        assert [edge["node"]["content"] for edge in page["edges"]] == ["Q1", "A1", "Q2"]
        assert page["edges"][0]["node"]["chat"] == {"id": first["chat"]["id"]}
        assert page["pageInfo"]["hasNextPage"] is True
        rest = (
            await api.data(
                query,
                {"id": first["chat"]["id"], "first": 3, "after": page["pageInfo"]["endCursor"]},
                token=account.token,
            )
        )["chat"]["messages"]
        assert [edge["node"]["content"] for edge in rest["edges"]] == ["A2"]
        tail = (await api.data(query, {"id": first["chat"]["id"], "last": 1}, token=account.token))["chat"]["messages"]
        assert [edge["node"]["content"] for edge in tail["edges"]] == ["A2"]

    async def test_search_finds_message_text(self, api: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(tokens=["The answer mentions ", "ZEBRAS."]))
        sent = await send(api, account, content="Tell me about stripes")
        await finish(api, account.token, sent)
        found = await api.data('{ chats(search: "zebras") { edges { node { id } } } }', token=account.token)
        assert found == {"chats": {"edges": [{"node": {"id": sent["chat"]["id"]}}]}}
        found = await api.data('{ chats(search: "STRIPES") { edges { node { id } } } }', token=account.token)
        assert found == {"chats": {"edges": [{"node": {"id": sent["chat"]["id"]}}]}}

    async def test_delete_chat_deletes_its_messages(self, api: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(api)
        upstream.script(key, Script(tokens=["bye"]))
        sent = await send(api, account)
        await finish(api, account.token, sent)
        await api.data("mutation($id: ID!) { deleteChat(id: $id) }", {"id": sent["chat"]["id"]}, token=account.token)
        for message_id in (sent["userMessage"]["id"], sent["assistantMessage"]["id"]):
            body = await api.execute(
                "query($id: ID!) { node(id: $id) { id } }", {"id": message_id}, token=account.token
            )
            assert error_codes(body) == ["NOT_FOUND"]


class TestSendMessageBadInput:
    async def rejected(self, api: GraphQLClient, token: str, **fields: Any) -> list[str]:
        payload = {"content": "Hello", "provider": "OPENAI", "model": "gpt-4o", **fields}
        body = await api.execute(SEND, {"input": payload}, token=token)
        assert body["data"] is None, body
        return [f"{code}: {error['message']}" for code, error in zip(error_codes(body), body["errors"], strict=True)]

    async def test_empty_content(self, api: GraphQLClient) -> None:
        account, _ = await with_key(api)
        assert await self.rejected(api, account.token, content="  \n ") == ["BAD_USER_INPUT: The message is empty."]
        assert (await api.data("{ chats { edges { node { id } } } }", token=account.token))["chats"]["edges"] == []

    async def test_no_key_for_the_provider_says_which(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        assert await self.rejected(api, account.token, provider="GEMINI", model="gemini-2.0-flash") == [
            "BAD_USER_INPUT: No API key stored for GEMINI: add one with setApiKey first."
        ]

    async def test_unknown_or_another_users_chat_is_not_found(self, api: GraphQLClient) -> None:
        alice, _ = await with_key(api)
        bob, _ = await with_key(api)
        chat = (await api.data('mutation { createChat(title: "A") { id } }', token=alice.token))["createChat"]
        assert await self.rejected(api, bob.token, chatId=chat["id"]) == ["NOT_FOUND: Chat not found."]
        missing = "Q2hhdDo" + "0" * 10
        assert (await self.rejected(api, bob.token, chatId=missing))[0].startswith(("NOT_FOUND", "BAD_USER_INPUT"))

    async def test_another_users_parent_is_not_found(self, api: GraphQLClient, upstream: FakeUpstream) -> None:
        alice, key = await with_key(api)
        bob, _ = await with_key(api)
        sent = await send(api, alice)
        await finish(api, alice.token, sent)
        bobs_chat = (await api.data("mutation { createChat { id } }", token=bob.token))["createChat"]
        assert await self.rejected(api, bob.token, chatId=bobs_chat["id"], parentId=sent["assistantMessage"]["id"]) == [
            "NOT_FOUND: Message not found."
        ]
        assert len(upstream.requests(key)) == 1

    async def test_several_keys_need_an_api_key_id(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        for label in ("work", "home"):
            await api.data(
                'mutation($l: String) { setApiKey(provider: OPENAI, key: "sk-x-0123456789abcdef", label: $l) { id } }',
                {"l": label},
                token=account.token,
            )
        assert await self.rejected(api, account.token) == [
            "BAD_USER_INPUT: You have 2 OPENAI keys: pass apiKeyId to choose one."
        ]

    async def test_another_users_key_is_not_found(self, api: GraphQLClient) -> None:
        alice = await api.sign_up()
        bob, _ = await with_key(api)
        key = (await api.data(SET_KEY, {"p": "OPENAI", "k": f"sk-{uuid.uuid4().hex}"}, token=alice.token))["setApiKey"]
        assert await self.rejected(api, bob.token, apiKeyId=key["id"]) == ["NOT_FOUND: API key not found."]

    async def test_out_of_range_sampling(self, api: GraphQLClient) -> None:
        account, _ = await with_key(api)
        assert (await self.rejected(api, account.token, temperature=5.0))[0].startswith("BAD_USER_INPUT")
        assert (await self.rejected(api, account.token, maxTokens=0))[0].startswith("BAD_USER_INPUT")

    async def test_a_2_mb_message_is_a_clean_error(self, api: GraphQLClient) -> None:
        account, _ = await with_key(api)
        assert (await self.rejected(api, account.token, content="x" * 2_000_000))[0].startswith("BAD_USER_INPUT")
        assert (await api.data("{ me { email } }", token=account.token))["me"]["email"] == account.email


class TestStreamIsolation:
    async def test_another_users_message_is_not_found_and_leaks_nothing(
        self, api: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        alice, key = await with_key(api)
        bob = await api.sign_up()
        upstream.script(key, Script(token_count=20, delay=0.02))
        sent = await send(api, alice)
        with pytest.raises(StreamError) as rejected:
            await follow_stream(api.ws_url, bob.token, sent["assistantMessage"]["id"])
        assert rejected.value.payload == [
            {
                "message": "Message not found.",
                "extensions": {"code": "NOT_FOUND"},
            }
        ]
        await finish(api, alice.token, sent)
