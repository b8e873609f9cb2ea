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


schema = AppSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    # Clients send the same few documents over and over; parse and validate each once.
    extensions=[lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)],
    config=StrawberryConfig(disable_field_suggestions=True),
)
