"""Every domain's ORM models, imported in one place for Alembic and the tests."""

from app.auth.models import AuthSession, User
from app.chats.models import Attachment, Chat, Message
from app.db import Base
from app.keys.models import ApiKey, UserVault

metadata = Base.metadata

__all__ = ["ApiKey", "Attachment", "AuthSession", "Chat", "Message", "User", "UserVault", "metadata"]
