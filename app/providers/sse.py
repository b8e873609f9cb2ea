"""Server-sent events, read raw: cheaper per chunk than the SDKs' typed event objects."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each event (multi-line data joined with newlines, per the SSE spec)."""
    buffer: list[str] = []
    async for line in lines:
        if not line:
            if buffer:
                yield "\n".join(buffer)
                buffer.clear()
        elif line.startswith("data:"):
            buffer.append(line[6:] if line.startswith("data: ") else line[5:])
    if buffer:
        yield "\n".join(buffer)
