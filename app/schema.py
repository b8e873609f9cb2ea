"""The GraphQL schema, assembled from each domain's resolver classes."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from app.auth.mutations import AuthMutation
from app.auth.queries import AuthQuery
from app.chats.mutations import ChatsMutation
from app.chats.queries import ChatsQuery
from app.generation.mutations import GenerationMutation
from app.generation.subscriptions import GenerationSubscription
from app.graphql.errors import AppSchema
from app.graphql.limits import limit_extensions
from app.graphql.node import NodeQuery
from app.keys.mutations import KeysMutation
from app.keys.queries import KeysQuery


@strawberry.type
class Query(NodeQuery, AuthQuery, KeysQuery, ChatsQuery):
    pass


@strawberry.type
class Mutation(AuthMutation, KeysMutation, ChatsMutation, GenerationMutation):
    pass


@strawberry.type
class Subscription(GenerationSubscription):
    pass


def build_schema(*, introspection: bool = True) -> AppSchema:
    return AppSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            # The limits first: they set the parse options and validation rules the caches then use.
            *limit_extensions(introspection=introspection),
            # Clients send the same few documents over and over; parse and validate each once.
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
        # "Did you mean …" would map a private schema for an attacker; ours is public, but stays quiet.
        config=StrawberryConfig(disable_field_suggestions=True),
    )


schema = build_schema()
