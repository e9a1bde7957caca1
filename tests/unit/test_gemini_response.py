"""Gemini generateContent answers -> OpenAI chat.completion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from farebox.providers.base import UpstreamError
from tests.spec import validate
from tests.support.gemini_adapter import fixture_bytes, provider, target


def parse(name_or_doc: str | dict[str, Any]) -> dict[str, Any]:
    p = provider()
    raw = fixture_bytes(name_or_doc) if isinstance(name_or_doc, str) else json.dumps(name_or_doc).encode()
    doc = p.parse_response(raw, target(p))
    assert validate(doc, "CreateChatCompletionResponse") == []
    return doc


def test_text() -> None:
    doc = parse("generate_text.json")
    assert doc["id"] == "chatcmpl-tTCwacuEBMvnitYP06qsgQY"
    assert doc["object"] == "chat.completion"
    assert doc["model"] == "gemini-2.0-flash"
    assert doc["choices"] == [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "The capital of France is Paris.", "refusal": None},
        }
    ]
    assert doc["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 7,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_thinking_and_cached_usage() -> None:
    doc = parse("generate_thinking_cached.json")
    message = doc["choices"][0]["message"]
    assert message["content"] == "17 × 23 = 391."
    assert message["reasoning_content"].startswith("**Working out the sum**")
    usage = doc["usage"]
    assert usage["prompt_tokens"] == 2100  # promptTokenCount already includes the cached part
    assert usage["prompt_tokens_details"]["cached_tokens"] == 2048
    assert usage["completion_tokens"] == 9 + 155  # candidates + thoughts
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 155
    assert usage["total_tokens"] == 2264  # equals Gemini's totalTokenCount


def test_parallel_tool_calls() -> None:
    doc = parse("generate_parallel_tool_calls.json")
    choice = doc["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"location": "Paris", "unit": "celsius"},
        {"location": "Tokyo", "unit": "celsius"},
    ]
    assert all(c["id"].startswith("call_") and len(c["id"]) == 29 for c in calls)
    assert calls[0]["id"] != calls[1]["id"]
    signature = json.loads(fixture_bytes("generate_parallel_tool_calls.json"))["candidates"][0]["content"][
        "parts"
    ][0]["thoughtSignature"]
    assert calls[0]["extra_content"] == {"google": {"thought_signature": signature}}
    assert "extra_content" not in calls[1]
    assert doc["usage"]["completion_tokens"] == 30 + 79


def test_blocked_prompt_is_an_empty_content_filter_completion() -> None:
    doc = parse("generate_blocked_prompt.json")
    assert doc["choices"] == [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "content_filter",
            "message": {"role": "assistant", "content": "", "refusal": None},
        }
    ]
    assert doc["usage"]["prompt_tokens"] == 12 and doc["usage"]["completion_tokens"] == 0


def test_safety_stop_without_content() -> None:
    doc = parse("generate_safety_stop.json")
    assert doc["choices"][0]["finish_reason"] == "content_filter"
    assert doc["choices"][0]["message"]["content"] == ""
    assert doc["id"].startswith("chatcmpl-")  # generated: no responseId


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    doc = parse(
        {
            "candidates": [
                {"content": {"parts": [{"text": "x"}], "role": "model"}, "finishReason": reason, "index": 0}
            ]
        }
    )
    assert doc["choices"][0]["finish_reason"] == expected


def test_max_tokens_fixture() -> None:
    assert parse("generate_max_tokens.json")["choices"][0]["finish_reason"] == "length"


def test_logprobs() -> None:
    logprobs = parse("generate_logprobs.json")["choices"][0]["logprobs"]
    assert logprobs["refusal"] is None
    assert [(t["token"], t["logprob"]) for t in logprobs["content"]] == [("Yes", -0.0102), (".", -0.0722)]
    assert logprobs["content"][0]["bytes"] == list(b"Yes")
    assert [t["token"] for t in logprobs["content"][0]["top_logprobs"]] == ["Yes", "No"]


def test_several_candidates_become_several_choices() -> None:
    doc = parse(
        {
            "candidates": [
                {"content": {"parts": [{"text": "A"}], "role": "model"}, "finishReason": "STOP", "index": 0},
                {
                    "content": {"parts": [{"text": "B"}], "role": "model"},
                    "finishReason": "MAX_TOKENS",
                    "index": 1,
                },
            ],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
        }
    )
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in doc["choices"]] == [
        (0, "A", "stop"),
        (1, "B", "length"),
    ]
    assert doc["model"] == "gemini-2.5-flash"  # no modelVersion: the upstream model


def test_tool_use_prompt_tokens_count_as_prompt() -> None:
    doc = parse(
        {
            "candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}],
            "usageMetadata": {
                "promptTokenCount": 10,
                "toolUsePromptTokenCount": 5,
                "candidatesTokenCount": 1,
            },
        }
    )
    assert doc["usage"]["prompt_tokens"] == 15 and doc["usage"]["total_tokens"] == 16


def test_malformed_body_is_a_retryable_upstream_error() -> None:
    p = provider()
    with pytest.raises(UpstreamError) as info:
        p.parse_response(b"<html>oops</html>", target(p))
    assert info.value.status == 502 and info.value.retryable
