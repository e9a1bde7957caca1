"""streamGenerateContent SSE events -> OpenAI chat.completion.chunk dicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from farebox.providers.base import UpstreamError
from tests.spec import validate
from tests.support.gemini_adapter import collect, encode_events, fixture_bytes, provider, sse_events, target


async def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    chunks = await collect(provider(), raw)
    for chunk in chunks:
        assert validate(chunk, "CreateChatCompletionStreamResponse") == [], chunk
    return chunks


def deltas(chunks: list[dict[str, Any]], key: str) -> str:
    return "".join(c["choices"][0]["delta"].get(key) or "" for c in chunks if c["choices"])


async def test_text_stream() -> None:
    chunks = await chunks_of(fixture_bytes("stream_text.sse"))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hello!"}
    assert deltas(chunks, "content") == "Hello! How can I help you today?"
    assert {c["id"] for c in chunks} == {"chatcmpl-tTCwacuEBMvnitYP06qsgQY"}
    assert len({c["created"] for c in chunks}) == 1
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0]["finish_reason"] == "stop"
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-2]] == [None] * (len(chunks) - 2)
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["prompt_tokens"] == 4 and last["usage"]["completion_tokens"] == 9
    assert all("usage" not in c for c in chunks[:-1])  # usage comes once, at the end


async def test_thinking_then_parallel_tool_calls() -> None:
    chunks = await chunks_of(fixture_bytes("stream_thinking_tools.sse"))
    assert deltas(chunks, "reasoning_content").startswith("**Planning the lookup**")
    assert deltas(chunks, "content") == ""
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [tc["index"] for tc in calls] == [0, 1]
    assert [json.loads(tc["function"]["arguments"]) for tc in calls] == [
        {"location": "Paris"},
        {"location": "Tokyo"},
    ]
    assert all(tc["type"] == "function" and tc["id"].startswith("call_") for tc in calls)
    assert calls[0]["extra_content"]["google"]["thought_signature"] == "CiQB0e2Kb9aXmq0L1o7Zf3SxZ0n2bUeF"
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == 36 + 62
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 62


async def test_error_event_mid_stream_raises() -> None:
    p = provider()
    seen: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError) as info:
        async for chunk in p.parse_stream(sse_events(fixture_bytes("stream_error_midway.sse")), target(p)):
            seen.append(chunk)
    assert deltas(seen, "content") == "The first part of a long"
    assert info.value.status == 503 and info.value.code == "model_unavailable" and info.value.retryable
    assert "overloaded" in info.value.message


async def test_blocked_prompt_stream() -> None:
    chunks = await chunks_of(fixture_bytes("stream_blocked_prompt.sse"))
    assert chunks[0]["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": ""},
        "logprobs": None,
        "finish_reason": "content_filter",
    }
    assert chunks[-1]["usage"]["prompt_tokens"] == 11


async def test_comments_usage_only_events_and_done_are_ignored() -> None:
    raw = (
        b": keep-alive\n\n"
        + encode_events({"usageMetadata": {"promptTokenCount": 3}})
        + encode_events(
            {
                "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
            }
        )
        + b"data: [DONE]\n\n"
    )
    chunks = await chunks_of(raw)
    assert len(chunks) == 3  # text (with role), finish, usage
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "ok"}
    assert chunks[0]["id"].startswith("chatcmpl-")  # generated: no responseId


async def test_several_candidates_keep_their_own_state() -> None:
    def event(index: int, part: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": index}
        if finish:
            cand["finishReason"] = finish
        return {"candidates": [cand]}

    raw = encode_events(
        event(0, {"text": "A"}),
        event(1, {"text": "B"}),
        event(1, {"functionCall": {"name": "f", "args": {}}}, "STOP"),
        event(0, {"text": "a"}, "MAX_TOKENS"),
    )
    chunks = await chunks_of(raw)
    by_index: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
    for c in chunks:
        by_index[c["choices"][0]["index"]].append(c["choices"][0])
    assert by_index[1][0]["delta"]["role"] == "assistant" and by_index[0][0]["delta"]["role"] == "assistant"
    assert by_index[1][1]["delta"]["tool_calls"][0]["index"] == 0
    assert by_index[1][-1]["finish_reason"] == "tool_calls"
    assert by_index[0][-1]["finish_reason"] == "length"
    assert "usage" not in chunks[-1]  # no usageMetadata was sent: no usage chunk


async def test_stream_cut_before_finish_raises() -> None:
    raw = encode_events({"candidates": [{"content": {"parts": [{"text": "partial"}]}, "index": 0}]})
    with pytest.raises(UpstreamError) as info:
        await chunks_of(raw)
    assert info.value.status == 502 and info.value.retryable
    with pytest.raises(UpstreamError):
        await chunks_of(b"")


async def test_malformed_event_raises() -> None:
    with pytest.raises(UpstreamError) as info:
        await chunks_of(b"data: {not json\n\n")
    assert info.value.retryable


async def test_stream_logprobs() -> None:
    raw = encode_events(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "Yes"}]},
                    "finishReason": "STOP",
                    "logprobsResult": {
                        "chosenCandidates": [{"token": "Yes", "logProbability": -0.5}],
                        "topCandidates": [{"candidates": [{"token": "Yes", "logProbability": -0.5}]}],
                    },
                }
            ]
        }
    )
    chunks = await chunks_of(raw)
    assert chunks[0]["choices"][0]["logprobs"]["content"][0]["logprob"] == -0.5
