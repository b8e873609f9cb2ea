"""Isolation proven field by field: generated from schema.graphql, every query, mutation and subscription
that takes an id (directly or inside an input) is called as user B with each of user A's ids.

Each call must answer NOT_FOUND (or null) and carry none of A's data; afterwards A's data is unchanged.
A new field that takes an id is covered the day it appears in the schema.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    get_named_type,
)

from tests.chats.test_files import PNG, uploaded
from tests.fakes.upstream import FakeUpstream
from tests.generation.helpers import MODELS, send, with_key
from tests.gql import Account, GraphQLClient, StreamError, follow_stream

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SCALARS: dict[str, Any] = {"String": "isolation probe", "Int": 1, "Float": 0.5, "Boolean": False}
# Inputs whose plain sample would be refused for itself, hiding what the probe is about.
SAMPLE_FIELDS: dict[str, Any] = {"model": MODELS["OPENAI"], "provider": "OPENAI"}
A_MARKERS = ("A's private chat title", "A's secret question")


@dataclass(frozen=True)
class Probe:
    """One call: ``field`` of ``root`` with A's id placed at ``path`` (an argument, or argument.field)."""

    root: str
    field: str
    path: str
    document: str
    variables: dict[str, Any]


def _is_id(type_: GraphQLInputType) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLScalarType) and named.name == "ID"


def _is_list(type_: GraphQLInputType) -> bool:
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    return isinstance(inner, GraphQLList)


def _sample(type_: GraphQLInputType, id_at: str | None, foreign_id: str) -> Any:
    """A value for a required input: A's id where ``id_at`` says, other required fields filled in."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLInputObjectType):
        value: dict[str, Any] = {}
        for name, field in named.fields.items():
            if name == id_at:
                value[name] = [foreign_id] if _is_list(field.type) else foreign_id
            elif name in SAMPLE_FIELDS:
                value[name] = SAMPLE_FIELDS[name]
            elif isinstance(field.type, GraphQLNonNull):
                value[name] = _sample(field.type, None, foreign_id)
        return value
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    assert isinstance(named, GraphQLScalarType)
    return SAMPLE_SCALARS[named.name]


def _selection(field: GraphQLField) -> str:
    named = get_named_type(field.type)
    if isinstance(named, GraphQLObjectType) and "id" in named.fields:
        return "{ __typename id }"
    if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
        return "{ __typename }"
    return ""


def _id_paths(field: GraphQLField) -> list[tuple[str, str | None]]:
    """(argument, input field or None) for every place an id can go."""
    paths: list[tuple[str, str | None]] = []
    for arg_name, arg in field.args.items():
        if _is_id(arg.type):
            paths.append((arg_name, None))
        named = get_named_type(arg.type)
        if isinstance(named, GraphQLInputObjectType):
            paths.extend((arg_name, name) for name, inner in named.fields.items() if _is_id(inner.type))
    return paths


def probes(schema: GraphQLSchema, foreign_id: str) -> list[Probe]:
    found: list[Probe] = []
    roots = {"query": schema.query_type, "mutation": schema.mutation_type, "subscription": schema.subscription_type}
    for root, type_ in roots.items():
        assert type_ is not None
        for field_name, field in type_.fields.items():
            for arg_name, inner in _id_paths(field):
                declared, variables, passed = [], {}, []
                for name, arg in field.args.items():
                    if name == arg_name:
                        value = (
                            _sample(arg.type, inner, foreign_id)
                            if inner
                            else ([foreign_id] if _is_list(arg.type) else foreign_id)
                        )
                    elif isinstance(arg.type, GraphQLNonNull) and arg.default_value is None:
                        value = _sample(arg.type, None, foreign_id)
                    else:
                        continue
                    declared.append(f"${name}: {arg.type}")
                    passed.append(f"{name}: ${name}")
                    variables[name] = value
                document = (
                    f"{root} Probe({', '.join(declared)}) {{ {field_name}({', '.join(passed)}) {_selection(field)} }}"
                )
                path = f"{arg_name}.{inner}" if inner else arg_name
                found.append(Probe(root, field_name, path, document, variables))
    return found


@dataclass
class Owned:
    account: Account
    ids: dict[str, str]


async def owner_with_everything(client: GraphQLClient, upstream: FakeUpstream) -> Owned:
    account, _ = await with_key(client)
    first = await send(client, account, content=A_MARKERS[1])
    await follow_stream(client.ws_url, account.token, first["assistantMessage"]["id"])
    chat = await client.data(
        "mutation($t: String) { createChat(title: $t) { id } }", {"t": A_MARKERS[0]}, token=account.token
    )
    attachment = await uploaded(client, account, PNG, "private.png", claimed="image/png")
    keys = await client.data("{ apiKeys { id } }", token=account.token)
    ids = {
        "user": account.user_id,
        "chat": chat["createChat"]["id"],
        "chat with messages": first["chat"]["id"],
        "question": first["userMessage"]["id"],
        "answer": first["assistantMessage"]["id"],
        "api key": keys["apiKeys"][0]["id"],
        "attachment": attachment["id"],
    }
    return Owned(account, ids)


SNAPSHOT = """
{
  apiKeys { id hint }
  chats { edges { node { id title pinned archived updatedAt messages { edges { node { id content status } } } } } }
}
"""


async def test_user_b_gets_nothing_of_user_a(client: GraphQLClient, upstream: FakeUpstream) -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    owner = await owner_with_everything(client, upstream)
    before = await client.data(SNAPSHOT, token=owner.account.token)
    intruder, _ = await with_key(client)  # B can do everything else, so only the foreign id can fail
    covered: set[str] = set()
    failures: list[str] = []

    for label, foreign_id in owner.ids.items():
        for probe in probes(schema, foreign_id):
            covered.add(f"{probe.root}.{probe.field}({probe.path})")
            if probe.root == "subscription":
                outcome = await _subscribe(client, intruder, probe)
            else:
                outcome = await client.execute(probe.document, probe.variables, token=intruder.token)
            problem = _leak_in(outcome, probe)
            if problem:
                failures.append(f"{probe.root}.{probe.field}({probe.path}) with A's {label}: {problem}")

    assert not failures, "\n".join(failures)
    # Every id-taking field of the contract is among the generated probes.
    for expected in (
        "query.node(id)",
        "query.chat(id)",
        "mutation.updateChat(id)",
        "mutation.deleteChat(id)",
        "mutation.deleteApiKey(id)",
        "mutation.sendMessage(input.chatId)",
        "mutation.sendMessage(input.parentId)",
        "mutation.sendMessage(input.apiKeyId)",
        "mutation.sendMessage(input.attachmentIds)",
        "mutation.regenerateMessage(id)",
        "mutation.stopGeneration(messageId)",
        "subscription.messageStream(messageId)",
    ):
        assert expected in covered, (expected, sorted(covered))
    assert await client.data(SNAPSHOT, token=owner.account.token) == before
    # The probes are not vacuous: the same node lookups work for their owner.
    for label in ("chat", "answer", "api key", "attachment"):
        found = await client.data(
            "query($id: ID!) { node(id: $id) { id } }", {"id": owner.ids[label]}, token=owner.account.token
        )
        assert found["node"] == {"id": owner.ids[label]}, label
    intruders_chats = await client.data("{ chats { edges { node { title } } } }", token=intruder.token)
    assert intruders_chats["chats"]["edges"] == []  # no failed probe left a half-made chat behind


async def _subscribe(client: GraphQLClient, account: Account, probe: Probe) -> dict[str, Any]:
    message_id = probe.variables.get("messageId", str(uuid.uuid4()))
    try:
        events = await follow_stream(client.ws_url, account.token, message_id)
    except StreamError as error:
        return {"data": None, "errors": error.payload}
    return {"data": events, "errors": []}


def _leak_in(outcome: dict[str, Any], probe: Probe) -> str | None:
    text = json.dumps(outcome)
    if any(marker in text for marker in A_MARKERS):
        return f"A's data in the answer: {text[:300]}"
    codes = [error.get("extensions", {}).get("code") for error in outcome.get("errors") or []]
    data = outcome.get("data")
    value = data.get(probe.field) if isinstance(data, dict) else data
    if codes:
        if set(codes) != {"NOT_FOUND"}:
            return f"codes {codes}: {text[:300]}"
        if value:
            return f"data beside NOT_FOUND: {text[:300]}"
        return None
    if value not in (None, []):
        return f"answered without an error: {text[:300]}"
    return None
