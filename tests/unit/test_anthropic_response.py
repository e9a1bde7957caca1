"""Anthropic Message -> OpenAI chat.completion, checked against the OpenAI spec."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from farebox.providers.base import UpstreamError
from farebox.tokens import estimate_text_tokens
from tests.spec import assert_valid
from tests.support.anthropic_adapter import fixture, make_provider, make_target


def parse(body: bytes) -> dict[str, Any]:
    provider = make_provider()
    doc = provider.parse_response(body, make_target(provider))
    assert_valid(doc, "CreateChatCompletionResponse")
    return doc


def test_text_reply() -> None:
    doc = parse(fixture("message_text.json"))
    assert doc["id"] == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert doc["object"] == "chat.completion" and isinstance(doc["created"], int)
    assert doc["model"] == "claude-sonnet-4-5-20250929"
    choice = doc["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hi! My name is Claude.", "refusal": None}
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert doc["usage"] == {
        "prompt_tokens": 2095,
        "completion_tokens": 503,
        "total_tokens": 2598,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_parallel_tool_calls() -> None:
    doc = parse(fixture("message_tool_use.json"))
    message = doc["choices"][0]["message"]
    assert doc["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] == "I'll check the weather in both cities."
    assert [(c["id"], c["type"], c["function"]["name"]) for c in message["tool_calls"]] == [
        ("toolu_01A09q90qw90lq917835lq9", "function", "get_weather"),
        ("toolu_01B18r01rx01mr028946mr0", "function", "get_weather"),
    ]
    assert json.loads(message["tool_calls"][1]["function"]["arguments"]) == {
        "location": "New York, NY",
        "unit": "celsius",
    }


def test_tool_calls_only_have_null_content() -> None:
    body = json.loads(fixture("message_tool_use.json"))
    body["content"] = body["content"][1:]
    assert parse(json.dumps(body).encode())["choices"][0]["message"]["content"] is None


def test_thinking_becomes_reasoning_content_and_redacted_is_dropped() -> None:
    doc = parse(fixture("message_thinking.json"))
    message = doc["choices"][0]["message"]
    thinking = json.loads(fixture("message_thinking.json"))["content"][0]["thinking"]
    assert message["reasoning_content"] == thinking
    assert message["content"] == "27 * 453 = 12,231"
    # Not reported by Anthropic: estimated from the thinking text, within output_tokens.
    reasoning = doc["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning == min(estimate_text_tokens(thinking), doc["usage"]["completion_tokens"])
    assert 0 < reasoning <= doc["usage"]["completion_tokens"] == 120


def test_reasoning_estimate_is_capped_at_output_tokens() -> None:
    body = json.loads(fixture("message_thinking.json"))
    body["usage"]["output_tokens"] = 5
    assert parse(json.dumps(body).encode())["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5


def test_cached_usage_and_max_tokens() -> None:
    doc = parse(fixture("message_cached.json"))
    assert doc["choices"][0]["finish_reason"] == "length"
    assert doc["usage"] == {
        "prompt_tokens": 21 + 188086,
        "completion_tokens": 393,
        "total_tokens": 21 + 188086 + 393,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 188086},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_json_mode_tool_becomes_content() -> None:
    doc = parse(fixture("message_json_tool.json"))
    choice = doc["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"name": "Ada", "languages": ["en", "fr"]}
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"


def test_json_value_tool_is_unwrapped() -> None:
    body = json.loads(fixture("message_json_tool.json"))
    body["content"][0] = {
        "type": "tool_use",
        "id": "t",
        "name": "farebox_json_value",
        "input": {"value": [1, 2]},
    }
    assert json.loads(parse(json.dumps(body).encode())["choices"][0]["message"]["content"]) == [1, 2]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_finish_reasons(stop_reason: str, finish: str) -> None:
    body = json.loads(fixture("message_text.json"))
    body["stop_reason"] = stop_reason
    assert parse(json.dumps(body).encode())["choices"][0]["finish_reason"] == finish


def test_empty_content_is_an_empty_string() -> None:
    body = json.loads(fixture("message_text.json"))
    body["content"] = []
    assert parse(json.dumps(body).encode())["choices"][0]["message"]["content"] == ""


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b'{"type": "message"}', b"[]"])
def test_garbage_is_a_retryable_upstream_error(body: bytes) -> None:
    provider = make_provider()
    with pytest.raises(UpstreamError) as info:
        provider.parse_response(body, make_target(provider))
    assert info.value.status == 502 and info.value.retryable


def test_arguments_are_compact_json() -> None:
    body = json.loads(fixture("message_tool_use.json"))
    args = parse(json.dumps(body).encode())["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert args == msgspec.json.encode(body["content"][1]["input"]).decode()
