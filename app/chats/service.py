"""Chats and their message trees: creation, listing, branches, and the rows a generation writes."""

from __future__ import annotations

import base64
import enum
import itertools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.chats import attachments, repository
from app.chats.models import Attachment, Chat, Message, MessageStatus, Role
from app.db import utcnow
from app.errors import BadUserInput, NotFound
from app.providers.base import ProviderKind

MAX_TITLE_CHARS = 200
MAX_SYSTEM_PROMPT_CHARS = 100_000
MAX_MODEL_CHARS = 200
MAX_MESSAGE_CHARS = 1_000_000
DEFAULT_PAGE = 20
MAX_PAGE = 100
TITLE_WORDS = 8
TITLE_CHARS = 80
_MODEL_PATTERN = re.compile(r"^[\w.:/@+-]+$")


class Keep(enum.Enum):
    """An update argument left out: the stored value stays."""

    KEEP = "KEEP"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class ChatPage:
    chats: Sequence[Chat]
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class Exchange:
    chat: Chat
    user_message: Message
    assistant_message: Message


@dataclass(frozen=True, slots=True)
class Lease:
    """An instance's claim on a generation: it runs it, and renews the claim while it does."""

    owner: str
    expires_at: datetime


@dataclass(slots=True)
class ConversationTurn:
    role: Literal["user", "assistant"]
    text: str
    files: list[Attachment]


@dataclass(frozen=True, slots=True)
class Conversation:
    """What a generation sends upstream: the system prompt and the turns root -> parent (files by reference)."""

    system_prompt: str | None
    turns: list[ConversationTurn]


def clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise BadUserInput("The title is empty.", field="title")
    if len(cleaned) > MAX_TITLE_CHARS:
        raise BadUserInput(f"The title must be at most {MAX_TITLE_CHARS} characters.", field="title")
    return cleaned


def title_from(content: str) -> str:
    words = content.split()
    title = " ".join(words[:TITLE_WORDS])
    truncated = len(words) > TITLE_WORDS
    if len(title) > TITLE_CHARS:
        title, truncated = title[: TITLE_CHARS - 1].rstrip(), True
    return title + ("…" if truncated else "")


def clean_system_prompt(system_prompt: str | None) -> str | None:
    if system_prompt is None or not system_prompt.strip():
        return None
    if len(system_prompt) > MAX_SYSTEM_PROMPT_CHARS:
        raise BadUserInput(
            f"The system prompt must be at most {MAX_SYSTEM_PROMPT_CHARS} characters.", field="systemPrompt"
        )
    return system_prompt


def clean_model(model: str | None) -> str | None:
    return None if model is None else require_model(model)


def require_model(model: str) -> str:
    cleaned = model.strip()
    if not cleaned or len(cleaned) > MAX_MODEL_CHARS or not _MODEL_PATTERN.match(cleaned):
        raise BadUserInput("That is not a model name.", field="model")
    return cleaned


def encode_cursor(chat: Chat) -> str:
    raw = f"chat:{chat.updated_at.isoformat()}|{chat.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        stamp, _, chat_id = raw.removeprefix("chat:").partition("|")
        return datetime.fromisoformat(stamp), uuid.UUID(chat_id)
    except (ValueError, UnicodeDecodeError):
        raise BadUserInput("That is not a cursor from this list.", field="after") from None


async def create_chat(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    title: str | None,
    system_prompt: str | None,
    provider: ProviderKind | None,
    model: str | None,
) -> Chat:
    chat = Chat(
        owner_id=owner_id,
        title=clean_title(title) if title is not None else "New chat",
        system_prompt=clean_system_prompt(system_prompt),
        provider=provider,
        model=clean_model(model),
        pinned=False,
        archived=False,
    )
    session.add(chat)
    await session.flush()
    return chat


async def update_chat(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    chat_id: uuid.UUID,
    title: str | Keep = KEEP,
    system_prompt: str | Keep | None = KEEP,
    provider: ProviderKind | Keep | None = KEEP,
    model: str | Keep | None = KEEP,
    pinned: bool | Keep = KEEP,
    archived: bool | Keep = KEEP,
) -> Chat:
    chat = await get_chat(session, owner_id=owner_id, chat_id=chat_id)
    if title is not KEEP:
        chat.title = clean_title(title)
    if system_prompt is not KEEP:
        chat.system_prompt = clean_system_prompt(system_prompt)
    if provider is not KEEP:
        chat.provider = provider
    if model is not KEEP:
        chat.model = clean_model(model)
    if pinned is not KEEP:
        chat.pinned = pinned
    if archived is not KEEP:
        chat.archived = archived
    chat.updated_at = utcnow()
    await session.flush()
    return chat


async def delete_chat(session: AsyncSession, *, owner_id: uuid.UUID, chat_id: uuid.UUID) -> None:
    if not await repository.delete_chat(session, owner_id, chat_id):
        raise NotFound("Chat not found.")


async def get_chat(session: AsyncSession, *, owner_id: uuid.UUID, chat_id: uuid.UUID) -> Chat:
    chat = await repository.get_chat(session, owner_id, chat_id)
    if chat is None:
        raise NotFound("Chat not found.")
    return chat


async def get_chats(session: AsyncSession, *, owner_id: uuid.UUID, chat_ids: Sequence[uuid.UUID]) -> Sequence[Chat]:
    return await repository.get_chats(session, owner_id, chat_ids)


async def list_chats(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    first: int | None,
    after: str | None,
    archived: bool | None,
    search: str | None,
) -> ChatPage:
    """Most recently updated first, keyset-paginated."""
    limit = DEFAULT_PAGE if first is None else first
    if not 0 <= limit <= MAX_PAGE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE}.", field="first")
    search = search.strip() if search else None
    if search and len(search) > 200:
        raise BadUserInput("The search text is too long.", field="search")
    rows = await repository.list_chats(
        session,
        owner_id,
        archived=bool(archived),
        search=search,
        after=decode_cursor(after) if after else None,
        limit=limit + 1,
    )
    return ChatPage(chats=rows[:limit], has_next_page=len(rows) > limit)


async def active_branch(session: AsyncSession, chat: Chat) -> Sequence[Message]:
    if chat.active_leaf_id is None:
        return []
    return await repository.path_to_root(session, chat.active_leaf_id)


async def get_message(session: AsyncSession, *, owner_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    message = await repository.get_message(session, owner_id, message_id)
    if message is None:
        raise NotFound("Message not found.")
    return message


async def get_messages(
    session: AsyncSession, *, owner_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
) -> Sequence[Message]:
    return await repository.get_messages(session, owner_id, message_ids)


def validate_content(content: str) -> str:
    if not content.strip():
        raise BadUserInput("The message is empty.", field="content")
    if len(content) > MAX_MESSAGE_CHARS:
        raise BadUserInput(f"The message is longer than {MAX_MESSAGE_CHARS:,} characters.", field="content")
    return content


async def add_exchange(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    chat_id: uuid.UUID | None,
    content: str,
    provider: ProviderKind,
    model: str,
    api_key_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    system_prompt: str | None,
    temperature: float | None,
    max_tokens: int | None,
    lease: Lease,
) -> Exchange:
    """Store a user message and a PENDING assistant answer, and make the answer the active leaf."""
    content = validate_content(content)
    model_name = require_model(model)
    if chat_id is None:
        chat = await create_chat(
            session,
            owner_id=owner_id,
            title=title_from(content),
            system_prompt=system_prompt,
            provider=provider,
            model=model_name,
        )
    else:
        chat = await get_chat(session, owner_id=owner_id, chat_id=chat_id)
        if system_prompt is not None:
            chat.system_prompt = clean_system_prompt(system_prompt)
    parent = await _parent_for(session, chat, owner_id=owner_id, parent_id=parent_id)
    user_message = Message(
        id=uuid.uuid4(),
        chat_id=chat.id,
        owner_id=owner_id,
        parent_id=parent.id if parent else None,
        role=Role.USER,
        content=content,
        status=MessageStatus.COMPLETE,
        chunk_count=0,
    )
    assistant_message = _pending_answer(
        chat.id,
        owner_id,
        parent_id=user_message.id,
        provider=provider,
        model=model_name,
        api_key_id=api_key_id,
        temperature=temperature,
        max_tokens=max_tokens,
        lease=lease,
    )
    # One flush: rows of one table are inserted in the order they were added (the answer's parent first).
    session.add_all([user_message, assistant_message])
    await session.flush()
    chat.active_leaf_id = assistant_message.id
    chat.provider, chat.model = provider, model_name
    chat.updated_at = utcnow()
    await session.flush()
    return Exchange(chat=chat, user_message=user_message, assistant_message=assistant_message)


async def _parent_for(
    session: AsyncSession, chat: Chat, *, owner_id: uuid.UUID, parent_id: uuid.UUID | None
) -> Message | None:
    if parent_id is None:
        if chat.active_leaf_id is None:
            return None
        parent = await get_message(session, owner_id=owner_id, message_id=chat.active_leaf_id)
    else:
        parent = await get_message(session, owner_id=owner_id, message_id=parent_id)
        if parent.chat_id != chat.id:
            raise NotFound("Message not found.")
    if not parent.status.is_final:
        raise BadUserInput("The answer is still being written: wait for it, or stop it first.", field="parentId")
    return parent


async def conversation_for(session: AsyncSession, message: Message) -> Conversation:
    """The system prompt and the turns before ``message`` on its branch, root first, with their files."""
    chat = await get_chat(session, owner_id=message.owner_id, chat_id=message.chat_id)
    history = await repository.path_to_root(session, message.parent_id) if message.parent_id else []
    files = await attachments.for_messages(
        session, owner_id=message.owner_id, message_ids=[earlier.id for earlier in history]
    )
    turns: list[ConversationTurn] = []
    for earlier in history:
        if not earlier.content and not files.get(earlier.id):
            continue
        role: Literal["user", "assistant"] = "user" if earlier.role is Role.USER else "assistant"
        if turns and turns[-1].role == role:
            # Providers expect alternating turns; a failed answer can leave two user turns in a row.
            turns[-1].text += "\n\n" + earlier.content
            turns[-1].files.extend(files.get(earlier.id, []))
        else:
            turns.append(ConversationTurn(role, earlier.content, list(files.get(earlier.id, []))))
    return Conversation(system_prompt=chat.system_prompt, turns=turns)


def _pending_answer(
    chat_id: uuid.UUID,
    owner_id: uuid.UUID,
    *,
    parent_id: uuid.UUID,
    provider: ProviderKind,
    model: str,
    api_key_id: uuid.UUID | None,
    temperature: float | None,
    max_tokens: int | None,
    lease: Lease,
) -> Message:
    return Message(
        id=uuid.uuid4(),
        chat_id=chat_id,
        owner_id=owner_id,
        parent_id=parent_id,
        role=Role.ASSISTANT,
        content="",
        status=MessageStatus.PENDING,
        provider=provider,
        model=model,
        api_key_id=api_key_id,
        temperature=temperature,
        max_tokens=max_tokens,
        chunk_count=0,
        lease_owner=lease.owner,
        lease_expires_at=lease.expires_at,
    )


async def add_regeneration(
    session: AsyncSession, *, owner_id: uuid.UUID, message_id: uuid.UUID, lease: Lease
) -> tuple[Chat, Message]:
    """A new PENDING answer beside ``message_id`` (same parent, model and key), made the active leaf.

    Given a user message, the new answer goes under it, with the chat's provider and model.
    """
    original = await get_message(session, owner_id=owner_id, message_id=message_id)
    if not original.status.is_final:
        raise BadUserInput("The answer is still being written: stop it first.", field="id")
    chat = await get_chat(session, owner_id=owner_id, chat_id=original.chat_id)
    template: Message | None = None
    if original.role is Role.USER:
        parent = original
    else:
        if original.parent_id is None:
            raise BadUserInput("That answer has no question to answer again.", field="id")
        parent = await get_message(session, owner_id=owner_id, message_id=original.parent_id)
        template = original
    provider = template.provider if template else chat.provider
    model = template.model if template else chat.model
    if provider is None or model is None:
        raise BadUserInput("The chat has no provider and model to answer with.", field="id")
    answer = _pending_answer(
        chat.id,
        owner_id,
        parent_id=parent.id,
        provider=provider,
        model=model,
        lease=lease,
        api_key_id=template.api_key_id if template else None,
        temperature=template.temperature if template else None,
        max_tokens=template.max_tokens if template else None,
    )
    session.add(answer)
    await session.flush()
    chat.active_leaf_id = answer.id
    chat.updated_at = utcnow()
    await session.flush()
    return chat, answer


async def mark_streaming(session: AsyncSession, message_id: uuid.UUID) -> None:
    await repository.update_message(session, message_id, status=MessageStatus.STREAMING, updated_at=utcnow())


async def checkpoint(session: AsyncSession, message_id: uuid.UUID, *, chunks: Sequence[str]) -> None:
    """Store the partial content streamed so far, chunk by chunk."""
    await repository.update_message(session, message_id, **_content_values(chunks), updated_at=utcnow())


def _content_values(chunks: Sequence[str]) -> dict[str, Any]:
    return {
        "content": "".join(chunks),
        "chunk_count": len(chunks),
        "chunk_offsets": json.dumps(list(itertools.accumulate(len(chunk) for chunk in chunks))),
    }


def stored_chunks(message: Message, start: int) -> tuple[str, int] | None:
    """The text of the stored chunks from number ``start`` on, and how many they are (None if none)."""
    if message.chunk_offsets is None or start >= message.chunk_count:
        return None
    offsets: list[int] = json.loads(message.chunk_offsets)
    begin = offsets[start - 1] if start > 0 else 0
    return message.content[begin : offsets[-1]], len(offsets) - start


_UNFINISHED = (MessageStatus.PENDING, MessageStatus.STREAMING)
INTERRUPTED_ERROR = "The server running this answer stopped before it was complete."


async def finish_message(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    lease_owner: str,
    status: MessageStatus,
    chunks: Sequence[str],
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    error: str | None = None,
    error_code: str | None = None,
) -> bool:
    """Record the end of a generation this instance still owns; False when it no longer does."""
    now = utcnow()
    return await repository.finish_owned(
        session,
        message_id,
        lease_owner=lease_owner,
        unfinished=_UNFINISHED,
        values={
            "status": status,
            **_content_values(chunks),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "error": error,
            "error_code": error_code,
            "finished_at": now,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        },
    )


async def renew_leases(session: AsyncSession, *, owner: str, message_ids: Sequence[uuid.UUID], until: datetime) -> None:
    if message_ids:
        await repository.renew_leases(session, owner=owner, message_ids=message_ids, until=until)


async def interrupt_orphans(session: AsyncSession, *, now: datetime, everything: bool = False) -> list[Message]:
    """Mark INTERRUPTED, keeping the last checkpoint, every unfinished answer whose lease expired
    (or every unfinished answer when ``everything``: one instance that just started). Each row is
    claimed by exactly one caller, so concurrent sweepers never report the same message twice."""
    return list(
        await repository.interrupt_unfinished(
            session,
            unfinished=_UNFINISHED,
            expired_before=None if everything else now,
            values={
                "status": MessageStatus.INTERRUPTED,
                "error": INTERRUPTED_ERROR,
                "error_code": "INTERRUPTED",
                "finished_at": now,
                "updated_at": now,
                "lease_owner": None,
                "lease_expires_at": None,
            },
        )
    )


async def count_unfinished_answers(session: AsyncSession, *, owner_id: uuid.UUID) -> int:
    return await repository.count_unfinished(session, owner_id)


async def get_message_for_generation(session: AsyncSession, message_id: uuid.UUID) -> Message | None:
    """The row a generation works on; the generation was authorised when it was started."""
    return await session.get(Message, message_id)
