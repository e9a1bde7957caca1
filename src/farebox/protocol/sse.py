"""Server-sent events: parse an upstream byte stream into events, encode events for clients."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import msgspec


class SSEEvent(msgspec.Struct, frozen=True):
    data: bytes
    event: str | None = None


DONE = b"[DONE]"
MAX_LINE = 16 * 1024 * 1024  # an upstream sending more than this without a newline is broken
# A blank line ends an event: LF, then a line that is empty once its CRs are stripped, then LF.
_EVENT_END = re.compile(rb"\n\r*\n")


class SSEError(ValueError):
    """The byte stream is not SSE we can parse (a line over MAX_LINE)."""


class SSEStream:
    """Events from a byte stream read in blocks (one read per network arrival, not one per line).

    Follows the SSE rules we rely on: `data:` lines joined by newlines, `event:` names, blank
    line ends an event, comments (`:`) ignored, lines end in LF or CRLF. An event may be split
    across reads; a last event without its blank line is still sent. `read_events()` returns
    every event one read completed (the way to consume it in batches); iterating gives them one
    at a time.
    """

    __slots__ = ("_read", "_ready", "_tail", "_eof")

    def __init__(self, source: AsyncIterable[bytes] | Any) -> None:
        readany = getattr(source, "readany", None)  # aiohttp's StreamReader: whatever has arrived
        self._read: Callable[[], Awaitable[bytes]] = readany if readany is not None else _reader(source)
        self._ready: deque[SSEEvent] = deque()  # parsed, not yet taken by __anext__
        self._tail = b""  # the raw bytes of an unfinished event
        self._eof = False

    async def read_events(self) -> list[SSEEvent]:
        """Every complete event the next read(s) made available: at least one, or [] at the end."""
        if self._ready:
            events = list(self._ready)
            self._ready.clear()
            return events
        while not self._eof:
            block = await self._read()
            if not block:
                self._eof = True
                return self._finish()
            events = self._feed(block)
            if events:
                return events
        return []

    def __aiter__(self) -> SSEStream:
        return self

    async def __anext__(self) -> SSEEvent:
        ready = self._ready
        if not ready:
            events = await self.read_events()
            if not events:
                raise StopAsyncIteration
            ready.extend(events)
        return ready.popleft()

    def _feed(self, block: bytes) -> list[SSEEvent]:
        buffer = self._tail + block if self._tail else block
        crlf = b"\r" in buffer
        if not crlf and buffer.startswith(b"data: "):
            # The usual read: LF-only events of one `data: ` line each, in a few C calls.
            end = buffer.rfind(b"\n\n")
            if end > 0:
                body = buffer[6:end]
                datas = body.split(b"\n\ndata: ")
                if body.count(b"\n") == 2 * len(datas) - 2:  # no newline but the events' ends
                    self._keep(buffer[end + 2:])
                    return list(map(SSEEvent, datas))
        parts = _EVENT_END.split(buffer) if crlf else buffer.split(b"\n\n")
        self._keep(parts.pop())
        events = []
        for part in parts:
            if part.startswith(b"data: ") and b"\n" not in part and not (crlf and b"\r" in part):
                events.append(SSEEvent(part[6:]))
            elif part:
                event = _event(part)
                if event is not None:
                    events.append(event)
        return events

    def _keep(self, tail: bytes) -> None:
        """Keep the unfinished event for the next read, unless its last line is past the limit."""
        if len(tail) > MAX_LINE and len(tail) - tail.rfind(b"\n") - 1 > MAX_LINE:
            raise SSEError("an SSE line is longer than the limit")
        self._tail = tail

    def _finish(self) -> list[SSEEvent]:
        tail, self._tail = self._tail, b""
        event = _event(tail) if tail else None
        return [] if event is None else [event]


def _event(text: bytes) -> SSEEvent | None:
    """One event's lines by the SSE field rules. Blank lines can only lead (before any field) or
    end an unfinished last event, so they end nothing here."""
    data: list[bytes] = []
    name: str | None = None
    for line in text.split(b"\n"):
        if line.endswith(b"\r"):
            line = line.rstrip(b"\r")
        if not line:
            continue
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
            continue
        if line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":  # `data` without a colon: an empty data line
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    return SSEEvent(b"\n".join(data), name) if data else None


def _reader(blocks: AsyncIterable[bytes]) -> Callable[[], Awaitable[bytes]]:
    iterator = aiter(blocks)

    async def read() -> bytes:
        try:
            while True:
                block = await anext(iterator)
                if block:
                    return block
        except StopAsyncIteration:
            return b""

    return read


def iter_sse(blocks: AsyncIterable[bytes] | Any) -> SSEStream:
    """Events from an aiohttp StreamReader (read in blocks) or any async iterable of byte blocks
    (lines, as StreamReader iteration yields them, are blocks too)."""
    return SSEStream(blocks)


def encode_data(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


DONE_FRAME = encode_data(DONE)
