from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.broker.events import Delta
from app.chats.models import Message, MessageStatus
from app.chats.types import ChatType, MessageType
from app.providers.base import ProviderKind


@strawberry.input(name="SendMessageInput")
class SendMessageInput:
    chat_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Left out: a new chat is created, titled from the message."
    )
    content: str
    provider: ProviderKind
    model: str
    api_key_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Which of your keys to use; needed only when several match the provider."
    )
    parent_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Default: the active branch's last message; an earlier one starts a branch."
    )
    attachment_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="Files from uploadFile to send with the message (images need a vision model)."
    )
    system_prompt: str | None = strawberry.field(default=None, description="Sets the chat's system prompt.")
    temperature: float | None = None
    max_tokens: int | None = None


@strawberry.type(name="SendMessagePayload")
class SendMessagePayload:
    chat: ChatType
    user_message: MessageType
    assistant_message: MessageType


@strawberry.type(name="MessageDelta", description="Chunks index .. index+count-1 of a message's answer.")
class MessageDeltaType:
    message_id: relay.GlobalID
    index: int
    count: int
    text: str

    @classmethod
    def from_delta(cls, message_id: relay.GlobalID, delta: Delta) -> MessageDeltaType:
        return cls(message_id=message_id, index=delta.index, count=delta.count, text=delta.text)


@strawberry.type(name="MessageCompleted")
class MessageCompletedType:
    message: MessageType


@strawberry.type(name="MessageFailed")
class MessageFailedType:
    message: MessageType
    code: str
    error: str


MessageStreamEvent = Annotated[
    MessageDeltaType | MessageCompletedType | MessageFailedType, strawberry.union("MessageStreamEvent")
]


def final_event(message: Message) -> MessageCompletedType | MessageFailedType:
    view = MessageType.from_model(message)
    if message.status in (MessageStatus.COMPLETE, MessageStatus.CANCELLED):
        return MessageCompletedType(message=view)
    return MessageFailedType(
        message=view,
        code=message.error_code or message.status.value,
        error=message.error or "The answer did not complete.",
    )
