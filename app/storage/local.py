"""Files under a local directory (the embedded default). The app serves them through signed links."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self._root = root

    async def start(self) -> None:
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        if not self._root.is_dir():
            raise OSError(f"{self._root} is not a directory")

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if self._root.resolve() not in path.parents:
            raise ValueError("storage key escapes the storage directory")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:  # noqa: ARG002 - files have no type
        path = self._path(key)
        await asyncio.to_thread(_write_atomically, path, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._path(key).unlink)

    async def presigned_url(
        self,
        key: str,  # noqa: ARG002
        *,
        filename: str,  # noqa: ARG002
        content_type: str,  # noqa: ARG002
        expires_in: int,  # noqa: ARG002
    ) -> str | None:
        return None  # the app serves local files itself, behind its own signed links


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)
