"""Uploaded bytes: their real type (from the bytes), bounded reading, best-effort deletion."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from app.errors import BadUserInput
from app.storage.base import Storage

logger = logging.getLogger(__name__)
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown"})


def detect_content_type(data: bytes, filename: str) -> str | None:
    """The file's type from its first bytes, never from what the client claims; None if unsupported."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text/markdown" if PurePosixPath(filename).suffix.lower() in (".md", ".markdown") else "text/plain"
    return None


async def read_upload(upload: Any, limit: int) -> bytes:
    """The uploaded bytes, refusing more than ``limit`` (the request itself was capped while streaming)."""
    data: bytes = await upload.read(limit + 1)
    if len(data) > limit:
        raise BadUserInput(f"The file is larger than {limit:,} bytes.", field="file")
    if not data:
        raise BadUserInput("The file is empty.", field="file")
    return data


async def delete_objects(storage: Storage, keys: Sequence[str]) -> None:
    for key in keys:
        try:
            await storage.delete(key)
        except Exception:  # a leftover object is harmless; a failed request over it is not
            logger.warning("could not delete a stored file", exc_info=True)
