"""Short-lived download links: presigned by the store when it can, else signed for the app's route."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

from app.storage.base import Storage

LINK_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class FileLink:
    kind: str  # "attachment" or "avatar"
    object_id: uuid.UUID
    expires: int


def sign_link(secret_key: str, kind: str, object_id: uuid.UUID, *, now: float | None = None) -> str:
    """A token for the local-storage download route: what it opens, until when, and an HMAC of both."""
    expires = int((now if now is not None else time.time()) + LINK_SECONDS)
    payload = f"{kind}.{object_id}.{expires}"
    mac = hmac.new(secret_key.encode(), f"file-link|{payload}".encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def verify_link(secret_key: str, token: str, *, now: float | None = None) -> FileLink | None:
    try:
        kind, object_id, expires, signature = token.split(".")
        link = FileLink(kind, uuid.UUID(object_id), int(expires))
    except ValueError:
        return None
    expected = sign_link(secret_key, kind, link.object_id, now=link.expires - LINK_SECONDS).rsplit(".", 1)[1]
    if not hmac.compare_digest(expected, signature):
        return None
    if link.expires < (now if now is not None else time.time()):
        return None
    return link


async def download_url(
    storage: Storage,
    *,
    secret_key: str,
    base_url: str,
    kind: str,
    object_id: uuid.UUID,
    key: str,
    filename: str,
    content_type: str,
) -> str:
    presigned = await storage.presigned_url(key, filename=filename, content_type=content_type, expires_in=LINK_SECONDS)
    if presigned is not None:
        return presigned
    return f"{base_url.rstrip('/')}/files/{sign_link(secret_key, kind, object_id)}"
