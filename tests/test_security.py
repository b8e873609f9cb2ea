"""GraphQL limits (graphql-cop's checks among them) and HTTP hygiene, against the running server."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StartServer
from tests.gql import GraphQLClient, error_codes


async def token_for(client: GraphQLClient) -> str:
    return (await client.sign_up()).token


class TestDocumentLimits:
    async def test_the_deepest_contract_query_passes_and_deeper_is_refused(self, client: GraphQLClient) -> None:
        token = await token_for(client)
        deepest = "{ chats { edges { node { messages { edges { node { chat { id } attachments { id } } } } } } } }"
        assert await client.data(deepest, token=token) == {"chats": {"edges": []}}
        too_deep = (
            "{ chats { edges { node { messages { edges { node { chat { messages { edges { cursor } } } } } } } } } }"
        )
        body = await client.execute(too_deep, token=token)
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "depth" in body["errors"][0]["message"]

    async def test_alias_overloading(self, client: GraphQLClient) -> None:
        fifteen = "{ " + " ".join(f"a{i}: __typename" for i in range(15)) + " }"
        assert len(await client.data(fifteen)) == 15
        sixteen = "query { ...F } fragment F on Query { " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"
        assert error_codes(await client.execute(sixteen)) == ["BAD_USER_INPUT"]

    async def test_field_duplication(self, client: GraphQLClient) -> None:
        body = await client.execute("{ " + "__typename " * 500 + "}")
        assert error_codes(body) == ["BAD_USER_INPUT"]

    async def test_directive_overloading(self, client: GraphQLClient) -> None:
        five = "{ " + " ".join(f"a{i}: __typename @include(if: true)" for i in range(5)) + " }"
        assert len(await client.data(five)) == 5
        six = "{ " + " ".join(f"a{i}: __typename @include(if: true)" for i in range(6)) + " }"
        body = await client.execute(six)
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "directives" in body["errors"][0]["message"]

    async def test_circular_fragments(self, client: GraphQLClient) -> None:
        body = await client.execute("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
        assert error_codes(body) == ["BAD_USER_INPUT"]

    async def test_array_batching_is_off(self, client: GraphQLClient) -> None:
        response = await client.http.post(client.url, json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}])
        assert response.status_code == 400

    async def test_no_mutation_over_get(self, client: GraphQLClient) -> None:
        response = await client.http.get(
            client.url,
            params={"query": 'mutation { signIn(email: "a@b.co", password: "whatever12") { token } }'},
            headers={"accept": "application/json"},
        )
        assert response.status_code in (400, 405)
        assert "signIn" not in response.text or "token" not in response.text

    async def test_request_bodies_over_2_mb_are_refused(self, client: GraphQLClient) -> None:
        response = await client.http.post(
            client.url,
            content=b'{"query": "{ __typename }", "padding": "' + b"x" * (2 * 1024 * 1024) + b'"}',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 413
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]

    async def test_no_field_suggestions(self, client: GraphQLClient) -> None:
        body = await client.execute("{ chatz { edges { cursor } } }")
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "Did you mean" not in body["errors"][0]["message"]


async def test_introspection_is_on_by_default_and_can_be_turned_off(
    client: GraphQLClient, start_server: StartServer
) -> None:
    assert (await client.data("{ __schema { queryType { name } } }"))["__schema"]["queryType"]["name"] == "Query"
    closed = start_server(name="no-introspection", GRAPHQL_INTROSPECTION="false")
    async with httpx.AsyncClient(timeout=30) as http:
        body = (await http.post(closed.graphql_url, json={"query": "{ __schema { queryType { name } } }"})).json()
    assert body["data"] is None
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}


class TestHttpHygiene:
    async def test_security_headers(self, client: GraphQLClient) -> None:
        api = await client.http.post(client.url, json={"query": "{ __typename }"})
        assert api.headers["x-content-type-options"] == "nosniff"
        assert api.headers["referrer-policy"] == "no-referrer"
        assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        playground = await client.http.get(client.url, headers={"accept": "text/html"})
        assert playground.headers["content-type"].startswith("text/html")
        assert "script-src 'self' 'unsafe-inline' https://unpkg.com" in playground.headers["content-security-policy"]

    @pytest.mark.parametrize(("host", "status"), [("app.example.test", 200), ("evil.example.test", 400)])
    async def test_trusted_hosts(self, start_server: StartServer, host: str, status: int) -> None:
        server = start_server(name="trusted-hosts", TRUSTED_HOSTS="app.example.test,127.0.0.1")
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(server.graphql_url, json={"query": "{ __typename }"}, headers={"host": host})
        assert response.status_code == status


class TestFoundByFuzzing:
    """What schemathesis found once: each is now the client's error, never an internal one."""

    async def test_nul_characters_in_text(self, client: GraphQLClient) -> None:
        token = await token_for(client)
        literal = await client.execute('mutation { createChat(title: "a\\u0000b") { id } }', token=token)
        assert error_codes(literal) == ["BAD_USER_INPUT"]
        variable = await client.execute(
            "mutation($t: String) { createChat(title: $t) { id } }", {"t": "a\x00b"}, token=token
        )
        assert error_codes(variable) == ["BAD_USER_INPUT"]
        assert "NUL" in variable["errors"][0]["message"]
        assert (await client.data("{ chats { edges { node { id } } } }", token=token))["chats"]["edges"] == []

    @pytest.mark.parametrize(
        "arguments", ["first: -1", "last: -2", 'after: "not a cursor"', 'before: "ก ำกำ"'], ids=str
    )
    async def test_bad_pagination_of_messages(self, client: GraphQLClient, arguments: str) -> None:
        token = await token_for(client)
        chat = await client.data('mutation { createChat(title: "t") { id } }', token=token)
        query = f"query($id: ID!) {{ chat(id: $id) {{ messages({arguments}) {{ edges {{ cursor }} }} }} }}"
        body = await client.execute(query, {"id": chat["createChat"]["id"]}, token=token)
        assert error_codes(body) == ["BAD_USER_INPUT"]
