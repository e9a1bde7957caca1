"""The SSE reader: events from byte blocks however the network split them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from farebox.protocol.sse import SSEError, SSEEvent, SSEStream, iter_sse

STREAM = (b": keep-alive comment\r\n\r\n"
          b"event: message_start\r\ndata: {\"a\": 1}\r\n\r\n"
          b"data: first line\ndata:second line\ndata\n\n"
          b"id: 7\nretry: 10\ndata: [DONE]")  # the last event has no blank line
EXPECTED = [SSEEvent(b'{"a": 1}', "message_start"), SSEEvent(b"first line\nsecond line\n"),
            SSEEvent(b"[DONE]")]


async def _blocks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def _events(data: bytes, size: int) -> list[SSEEvent]:
    return [event async for event in iter_sse(_blocks(data, size))]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, len(STREAM)])
def test_events_are_the_same_however_the_bytes_are_split(size: int) -> None:
    assert asyncio.run(_events(STREAM, size)) == EXPECTED


def test_lines_as_blocks_and_the_blank_line_ending() -> None:
    async def lines() -> AsyncIterator[bytes]:
        for line in (STREAM + b"\n\n").splitlines(keepends=True):
            yield line

    async def run() -> list[SSEEvent]:
        return [event async for event in iter_sse(lines())]

    assert asyncio.run(run()) == EXPECTED


def test_read_events_returns_what_each_read_completed() -> None:
    reads: list[bytes] = [b"data: 1\n\ndata: 2\n\ndata: 3\n", b"\n", b": ping\n\n", b"data: 4", b""]

    class Reader:  # like aiohttp's StreamReader: readany returns what arrived, b"" at the end
        async def readany(self) -> bytes:
            return reads.pop(0)

    async def run() -> list[list[bytes]]:
        stream = SSEStream(Reader())
        batches = []
        while batch := await stream.read_events():
            batches.append([event.data for event in batch])
        assert await stream.read_events() == []  # and stays at the end
        return batches

    # A read that completes no event (the comment) is not a batch: the next read is awaited.
    assert asyncio.run(run()) == [[b"1", b"2"], [b"3"], [b"4"]]
    assert reads == []


def test_empty_stream_and_comments_only() -> None:
    assert asyncio.run(_events(b"", 4)) == []
    assert asyncio.run(_events(b": ping\n\n: ping\n\n", 5)) == []


def test_a_line_over_the_limit_fails_but_a_long_event_of_short_lines_does_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("farebox.protocol.sse.MAX_LINE", 20)
    many_lines = b"".join(b"data: %d\n" % i for i in range(10))  # 80 bytes, no line over 20
    assert asyncio.run(_events(many_lines + b"\n", 7)) == [SSEEvent(b"\n".join(b"%d" % i for i in range(10)))]
    with pytest.raises(SSEError, match="longer than the limit"):
        asyncio.run(_events(b"data: " + b"x" * 40 + b"\n\n", 30))
