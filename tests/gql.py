"""GraphQL clients for the tests: HTTP (httpx) and graphql-transport-ws (websockets)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from tests import leaks

SIGN_UP = """
mutation SignUp($email: String!, $password: String!, $name: String) {
  signUp(email: $email, password: $password, name: $name) { token user { id email name } }
}
"""
_emails = itertools.count(1)


@dataclass
class Account:
    token: str
    user_id: str
    email: str
    password: str


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, url: str, ws_url: str) -> None:
        self.http = http
        self.url = url
        self.ws_url = ws_url

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        leaks.note_request(variables)
        response = await self.http.post(self.url, json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code in (200, 400, 413), response.text
        body: dict[str, Any] = response.json()
        leaks.note_response(body)
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> Any:
        """The ``data`` of a response that must have no errors."""
        body = await self.execute(query, variables, token=token)
        assert "errors" not in body, body
        return body["data"]

    async def sign_up(self, *, email: str | None = None, password: str = "correct horse battery") -> Account:
        email = email or f"user{next(_emails)}@example.com"
        data = await self.data(SIGN_UP, {"email": email, "password": password})
        payload = data["signUp"]
        return Account(payload["token"], payload["user"]["id"], payload["user"]["email"], password)


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


class TransportWS:
    """A minimal graphql-transport-ws client (the protocol the contract names)."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = itertools.count(1)

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await self.connection.recv())
        return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation_id = str(next(self._ids))
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})
        return operation_id


@asynccontextmanager
async def ws_connect(url: str, init_payload: dict[str, Any] | None) -> AsyncIterator[TransportWS]:
    protocols = [websockets.Subprotocol("graphql-transport-ws")]
    async with websockets.connect(url, subprotocols=protocols, max_size=None) as conn:
        client = TransportWS(conn)
        message: dict[str, Any] = {"type": "connection_init"}
        if init_payload is not None:
            message["payload"] = init_payload
        await client.send(message)
        yield client


MESSAGE_STREAM = """
subscription Follow($id: ID!, $offset: Int) {
  messageStream(messageId: $id, offset: $offset) {
    __typename
    ... on MessageDelta { messageId index count text }
    ... on MessageCompleted { message { id content status usage { inputTokens outputTokens } } }
    ... on MessageFailed { code error message { id content status error } }
  }
}
"""


async def follow_stream(
    ws_url: str, token: str, message_id: str, *, offset: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Every event of a messageStream subscription until it completes (or ``limit`` events)."""
    events: list[dict[str, Any]] = []
    async with ws_connect(ws_url, {"authorization": f"Bearer {token}"}) as ws:
        ack = await ws.receive()
        assert ack["type"] == "connection_ack", ack
        variables: dict[str, Any] = {"id": message_id}
        if offset is not None:
            variables["offset"] = offset
        operation = await ws.subscribe(MESSAGE_STREAM, variables)
        while True:
            message = await ws.receive()
            assert message.get("id") == operation, message
            if message["type"] == "complete":
                return events
            if message["type"] == "error":
                raise StreamError(message["payload"])
            assert message["type"] == "next", message
            if message["payload"].get("errors"):
                raise StreamError(message["payload"]["errors"])
            event = message["payload"]["data"]["messageStream"]
            if event["__typename"] == "MessageFailed":
                leaks.note_stream_error(event)
            events.append(event)
            if limit is not None and len(events) >= limit:
                return events


class StreamError(Exception):
    def __init__(self, payload: Any) -> None:
        super().__init__(payload)
        self.payload = payload
        leaks.note_stream_error(payload)
