"""Anthropic stream events -> OpenAI chunks, checked against the OpenAI spec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from farebox.providers.base import UpstreamError
from tests.support.anthropic_adapter import content_of, fixture, translate


async def test_text_stream() -> None:
    chunks = await translate(fixture("stream_text.sse"))
    first, *middle, finish, usage = chunks
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["id"] == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    assert all(c["id"] == first["id"] and c["model"] == "claude-sonnet-4-5-20250929" for c in chunks)
    assert content_of(chunks) == "Hello!"
    assert all(c["choices"][0]["finish_reason"] is None for c in [first, *middle])
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert usage["choices"] == []
    assert usage["usage"]["prompt_tokens"] == 25 and usage["usage"]["completion_tokens"] == 15
    assert usage["usage"]["total_tokens"] == 40


async def test_ping_makes_no_chunk() -> None:
    raw = fixture("stream_text.sse")
    without_ping = raw.replace(b'event: ping\ndata: {"type": "ping"}\n\n', b"")
    assert without_ping != raw
    assert len(await translate(raw)) == len(await translate(without_ping)) == 5


async def test_tool_call_stream() -> None:
    chunks = await translate(fixture("stream_tool_use.sse"))
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    starts = [c for c in calls if "id" in c]
    assert starts == [
        {
            "index": 0,
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {
            "index": 1,
            "id": "toolu_01U2y2gK45rBnl3uOUsO8Vq7",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
    ]
    args = {0: "", 1: ""}
    for call in calls:
        args[call["index"]] += call["function"]["arguments"]
    assert json.loads(args[0]) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert json.loads(args[1]) == {"location": "New York, NY", "unit": "fahrenheit"}
    assert all(c["function"]["arguments"] for c in calls if "id" not in c)  # empty fragments skipped
    assert content_of(chunks) == "Okay, let's check the weather."
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 472 and chunks[-1]["usage"]["completion_tokens"] == 89


async def test_thinking_stream() -> None:
    chunks = await translate(fixture("stream_thinking.sse"))
    reasoning = content_of(chunks, "reasoning_content")
    assert reasoning.startswith("Let me solve this step by step") and reasoning.endswith("= 12,231")
    assert content_of(chunks) == "27 * 453 = 12,231"
    assert not any("signature" in json.dumps(c) for c in chunks)
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] == 0 and usage["completion_tokens"] == 0  # this stream reported none
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0  # capped at output_tokens


async def test_cached_stream_usage_takes_the_cumulative_counts() -> None:
    chunks = await translate(fixture("stream_cached.sse"))
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] == 2679 + 188086
    assert usage["prompt_tokens_details"] == {"cached_tokens": 188086, "cache_write_tokens": 0}
    assert usage["completion_tokens"] == 510
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


async def test_error_event_mid_stream_raises() -> None:
    seen = []
    with pytest.raises(UpstreamError) as info:
        seen.extend(await translate(fixture("stream_error.sse")))
    assert (info.value.status, info.value.code, info.value.retryable) == (503, "model_unavailable", True)
    assert "Overloaded" in info.value.message


async def test_stream_cut_before_the_end_raises() -> None:
    raw = fixture("stream_text.sse")
    cut = raw[: raw.index(b"event: message_delta")]
    with pytest.raises(UpstreamError) as info:
        await translate(cut)
    assert info.value.status == 502 and info.value.retryable


async def test_stream_closed_after_message_delta_still_finishes() -> None:
    raw = fixture("stream_text.sse")
    chunks = await translate(raw[: raw.index(b"event: message_stop")])
    assert (
        chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["completion_tokens"] == 15
    )


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _json_mode_stream(name: str, fragments: list[str]) -> bytes:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_j",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 9, "output_tokens": 1},
        },
    }
    events: list[dict[str, Any]] = [
        start,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_j", "name": name, "input": {}},
        },
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": f}}
        for f in fragments
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}},
        {"type": "message_stop"},
    ]
    return b"".join(_event(e) for e in events)


async def test_json_mode_stream_is_content() -> None:
    chunks = await translate(_json_mode_stream("farebox_json_output", ["", '{"name": ', '"Ada"}']))
    assert json.loads(content_of(chunks)) == {"name": "Ada"}
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks if c["choices"])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_json_value_stream_is_unwrapped() -> None:
    chunks = await translate(_json_mode_stream("farebox_json_value", ['{"value": [1,', " 2]}"]))
    assert json.loads(content_of(chunks)) == [1, 2]


async def test_unknown_events_and_blocks_are_ignored() -> None:
    raw = fixture("stream_text.sse")
    extra = _event(
        {
            "type": "content_block_start",
            "index": 7,
            "content_block": {"type": "redacted_thinking", "data": "xyz"},
        }
    )
    extra += _event({"type": "brand_new_event", "whatever": 1})
    at = raw.index(b"event: message_delta")
    chunks = await translate(raw[:at] + extra + raw[at:])
    assert content_of(chunks) == "Hello!" and len(chunks) == 5
