"""Server-sent events: parse an upstream byte stream into events, encode events for clients."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

import msgspec


class SSEEvent(msgspec.Struct, frozen=True):
    data: bytes
    event: str | None = None


DONE = b"[DONE]"


async def iter_sse(lines: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """Events from an iterable of lines (as aiohttp's StreamReader yields them, endings kept).

    Follows the SSE rules we rely on: `data:` lines joined by newlines, `event:` names, blank
    line ends an event, comments (`:`) ignored. A last event without its blank line is still sent.
    """
    data: list[bytes] = []
    event: str | None = None
    async for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield SSEEvent(b"\n".join(data), event)
            data, event = [], None
            continue
        if line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace")
    if data:
        yield SSEEvent(b"\n".join(data), event)


def encode_data(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


DONE_FRAME = encode_data(DONE)
