"""Server-sent events: parse an upstream byte stream into events, encode events for clients."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import msgspec


class SSEEvent(msgspec.Struct, frozen=True):
    data: bytes
    event: str | None = None


DONE = b"[DONE]"
MAX_LINE = 16 * 1024 * 1024  # an upstream sending more than this without a newline is broken


class SSEError(ValueError):
    """The byte stream is not SSE we can parse (a line over MAX_LINE)."""


class SSEStream:
    """Events from a byte stream read in blocks (one read per network arrival, not one per line).

    Follows the SSE rules we rely on: `data:` lines joined by newlines, `event:` names, blank
    line ends an event, comments (`:`) ignored, lines end in LF or CRLF. An event may be split
    across reads; a last event without its blank line is still sent. `buffered()` says whether
    the next event is already here, so a consumer can batch its writes without waiting.
    """

    __slots__ = ("_read", "_ready", "_tail", "_data", "_event", "_eof")

    def __init__(self, source: AsyncIterable[bytes] | Any) -> None:
        readany = getattr(source, "readany", None)  # aiohttp's StreamReader: whatever has arrived
        self._read: Callable[[], Awaitable[bytes]] = readany if readany is not None else _reader(source)
        self._ready: deque[SSEEvent] = deque()
        self._tail = b""  # an unfinished line
        self._data: list[bytes] = []
        self._event: str | None = None
        self._eof = False

    def buffered(self) -> bool:
        return bool(self._ready)

    def __aiter__(self) -> SSEStream:
        return self

    async def __anext__(self) -> SSEEvent:
        ready = self._ready
        while not ready:
            if self._eof:
                raise StopAsyncIteration
            block = await self._read()
            if block:
                self._feed(block)
            else:
                self._eof = True
                self._finish()
        return ready.popleft()

    def _feed(self, block: bytes) -> None:
        if self._tail:
            block = self._tail + block
        lines = block.split(b"\n")
        self._tail = lines.pop()  # after the last newline: an unfinished line (often b"")
        if len(self._tail) > MAX_LINE:
            raise SSEError("an SSE line is longer than the limit")
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line.rstrip(b"\r")
        if not line:
            if self._data:
                self._ready.append(SSEEvent(b"\n".join(self._data), self._event))
                self._data = []
            self._event = None
            return
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
            return
        if line.startswith(b":"):
            return
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":  # `data` without a colon: an empty data line
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")

    def _finish(self) -> None:
        if self._tail:
            self._line(self._tail)
            self._tail = b""
        if self._data:
            self._ready.append(SSEEvent(b"\n".join(self._data), self._event))
            self._data = []


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
