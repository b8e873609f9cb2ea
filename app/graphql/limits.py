"""Limits on what one GraphQL document may ask (numbers from graphql-armor and OWASP's cheat sheet)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from graphql import (
    DirectiveNode,
    FieldNode,
    GraphQLError,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

# Depth counts fields that have a selection of their own. The deepest contract query,
# chats > edges > node > messages > edges > node > chat/attachments > (scalars), is 7; 8 is just above it
# (graphql-armor's default is 6, OWASP suggests about 10).
MAX_DEPTH = 8
MAX_ALIASES = 15
MAX_TOKENS = 1000
# The same field asked again and again in one selection (graphql-cop's field duplication) costs work for
# nothing: a wall of 500 `__typename` passes a token limit, not this.
MAX_REPEATS = 20
MAX_DIRECTIVES = 5


class MaxDirectives(ValidationRule):
    """At most MAX_DIRECTIVES directives in a document (directive overloading)."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.count = 0

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
        self.count += 1
        if self.count == MAX_DIRECTIVES + 1:
            self.report_error(GraphQLError(f"At most {MAX_DIRECTIVES} directives per operation.", node))


class MaxRepeatedFields(ValidationRule):
    """At most MAX_REPEATS selections of one response name in a selection set."""

    def enter_selection_set(self, node: SelectionSetNode, *_args: Any) -> None:
        names = Counter(
            (selection.alias or selection.name).value
            for selection in node.selections
            if isinstance(selection, FieldNode)
        )
        repeated = [name for name, count in names.items() if count > MAX_REPEATS]
        if repeated:
            self.report_error(
                GraphQLError(f"'{repeated[0]}' is asked more than {MAX_REPEATS} times in one selection.", node)
            )


NUL_MESSAGE = "Text may not contain the NUL character (\\u0000)."


class NoNulInStrings(ValidationRule):
    """PostgreSQL text cannot hold U+0000: refuse it in the document as the client's mistake
    (variables are checked before execution, see AppSchema)."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if "\x00" in node.value:
            self.report_error(GraphQLError(NUL_MESSAGE, node))


def has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(item) for item in value.values())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


# The rule classes are built once: a fresh class per request (what QueryDepthLimiter(...) and
# MaxAliasesLimiter(...) do) would also make every request miss the validation cache.
_RULES = [
    depth_rule(MAX_DEPTH, None),
    aliases_rule(MAX_ALIASES),
    MaxDirectives,
    MaxRepeatedFields,
    NoNulInStrings,
]


def limit_extensions(*, introspection: bool) -> list[Any]:
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(_RULES),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return extensions
