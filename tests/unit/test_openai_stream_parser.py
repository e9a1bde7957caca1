"""The OpenAI-compatible stream parser, fed a network read's events at a time (as the dispatcher
does): what each read yields, and how [DONE], bad events, errors and cut streams end it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from farebox.config import ModelConfig, Price, ProviderConfig
from farebox.protocol.sse import SSEStream
from farebox.providers.base import JSON, Target, UpstreamError, read_batches
from farebox.providers.openai_compat import OpenAICompatProvider


def chunk(text: str | None = None, finish: str | None = None, **extra: Any) -> bytes:
    delta = {} if text is None else {"content": text}
    doc = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up",
           "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


class Reads:
    """Like aiohttp's StreamReader: readany returns one network arrival, b"" at the end."""

    def __init__(self, *reads: bytes) -> None:
        self.reads = list(reads)

    async def readany(self) -> bytes:
        return self.reads.pop(0) if self.reads else b""


def provider(preset: str | None = None) -> OpenAICompatProvider:
    return OpenAICompatProvider("up", ProviderConfig(kind="openai", base_url="http://10.0.0.5/v1", preset=preset))


def target(p: OpenAICompatProvider) -> Target:
    return Target("m", "up", p.config, "up", ModelConfig(tier="pro", price=Price(input=1, output=2)))


async def _batches(reads: Reads, preset: str | None = None) -> tuple[list[list[JSON]], UpstreamError | None]:
    """What the dispatcher reads: one batch per read that made chunks, then how the stream ended."""
    p = provider(preset)
    batches: list[list[JSON]] = []
    try:
        async for batch in read_batches(SSEStream(reads), p.stream_parser(target(p))):
            batches.append(batch)  # type: ignore[arg-type]  # without text_chunks: dicts only
    except UpstreamError as exc:
        return batches, exc
    return batches, None


def run(*reads: bytes, preset: str | None = None) -> tuple[list[list[str | None]], UpstreamError | None]:
    """Each read's chunks as their content (None for a chunk without text), and the error at the end."""
    batches, error = asyncio.run(_batches(Reads(*reads), preset))
    return [[c["choices"][0]["delta"].get("content") if c["choices"] else None for c in b] for b in batches], error


def test_every_event_of_one_read_is_one_batch() -> None:
    batches, error = run(chunk("a") + chunk("b") + chunk("c"), chunk(finish="stop") + b"data: [DONE]\n\n")
    assert batches == [["a", "b", "c"], [None]]
    assert error is None


def test_an_event_split_across_reads_comes_with_the_read_that_completes_it() -> None:
    whole = chunk("a") + chunk("b") + chunk(finish="stop")
    cut = len(chunk("a")) + 10  # inside the second event
    batches, error = run(whole[:cut], whole[cut:-1], whole[-1:])
    assert batches == [["a"], ["b"], [None]]  # the last read was the blank line that ends the event
    assert error is None


def test_crlf_and_comments() -> None:
    crlf = (b": keep-alive\r\n\r\n" + chunk("a") + b": ping\n\n" + chunk(finish="stop")).replace(b"\n", b"\r\n")
    batches, error = run(crlf[:7], crlf[7:], b"data: [DONE]\r\n\r\n")
    assert batches == [["a", None]]
    assert error is None


def test_done_stops_the_stream_and_what_follows_is_not_read() -> None:
    reads = Reads(chunk("a") + b"data: [DONE]\n\n" + chunk("ignored"), b"data: {not json\n\n")
    batches, error = asyncio.run(_batches(reads))
    assert [[c["choices"][0]["delta"]["content"] for c in b] for b in batches] == [["a"]]
    assert error is None  # [DONE] without a finish_reason is a complete stream
    assert reads.reads == [b"data: {not json\n\n"]


def test_a_malformed_event_keeps_the_chunks_before_it_then_fails_retryably() -> None:
    batches, error = run(chunk("a"), chunk("b") + b"data: {\"id\": \n\n" + chunk("never"), chunk(finish="stop"))
    assert batches == [["a"], ["b"]]
    assert error is not None and error.code == "bad_upstream_response" and error.retryable


def test_an_error_event_mid_stream_fails_with_its_message() -> None:
    error_event = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    batches, error = run(chunk("a") + error_event + chunk("never"))
    assert batches == [["a"]]
    assert error is not None and error.code == "upstream_error" and "overloaded" in error.message


def test_an_error_event_first_leaves_nothing_to_relay() -> None:
    batches, error = run(b'data: {"error": "model is loading"}\n\n')
    assert batches == []
    assert error is not None and "model is loading" in error.message


@pytest.mark.parametrize("ending", [b"", chunk("b")[:-2]])  # the last event may lack its blank line
def test_a_stream_cut_before_any_finish_reason_fails(ending: bytes) -> None:
    batches, error = run(chunk("a") + ending)
    assert batches == ([["a"], ["b"]] if ending else [["a"]])  # the unfinished event comes at the end
    assert error is not None and error.code == "upstream_stream_cut" and error.status == 502


def test_a_finish_reason_without_done_is_complete_and_non_chunks_are_skipped() -> None:
    batches, error = run(chunk("a") + b"data: 42\n\n" + chunk(finish="length"))
    assert batches == [["a", None]]
    assert error is None


def test_the_preset_fix_runs_on_every_chunk() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    reads = Reads(chunk("hi") + chunk(finish="stop", x_groq={"id": "req_1", "usage": usage}))
    batches, error = asyncio.run(_batches(reads, "groq"))
    assert [c.get("usage") for c in batches[0]] == [None, usage]
    assert error is None
