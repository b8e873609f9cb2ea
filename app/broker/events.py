"""What travels on a stream's channel: numbered deltas and one End."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Delta:
    index: int
    text: str
    count: int = 1

    @property
    def end_index(self) -> int:
        return self.index + self.count


@dataclass(frozen=True, slots=True)
class End:
    status: str
    chunk_count: int


BrokerEvent = Delta | End


MAX_MERGED_TEXT = 32 * 1024


def merge_deltas(deltas: list[Delta]) -> list[Delta]:
    """Consecutive deltas joined into as few as possible (each text at most MAX_MERGED_TEXT)."""
    merged: list[Delta] = []
    for delta in deltas:
        last = merged[-1] if merged else None
        if last is not None and last.end_index == delta.index and len(last.text) + len(delta.text) <= MAX_MERGED_TEXT:
            merged[-1] = Delta(last.index, last.text + delta.text, last.count + delta.count)
        else:
            merged.append(delta)
    return merged


def encode(event: BrokerEvent) -> dict[str, Any]:
    if isinstance(event, Delta):
        return {"i": event.index, "n": event.count, "t": event.text}
    return {"end": event.status, "chunks": event.chunk_count}


def decode(data: dict[str, Any]) -> BrokerEvent:
    if "end" in data:
        return End(status=str(data["end"]), chunk_count=int(data["chunks"]))
    return Delta(index=int(data["i"]), text=str(data["t"]), count=int(data.get("n", 1)))


@dataclass(frozen=True, slots=True)
class Resync:
    """Local only: this instance's subscription was re-established; events may have been missed."""


InboxEvent = Delta | End | Resync
