"""OpenAI chat body -> Anthropic Messages body: reasoning (thinking) and JSON output modes."""

from __future__ import annotations

import pytest

from farebox.providers.anthropic.request import JSON_TOOL, JSON_VALUE_TOOL
from farebox.providers.anthropic.thinking import uses_adaptive_thinking
from farebox.providers.base import UpstreamError
from tests.support.anthropic_adapter import build

USER = {"role": "user", "content": "Hi"}


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_sets_thinking_budget(effort: str, budget: int) -> None:
    body = build(
        {
            "messages": [USER],
            "reasoning_effort": effort,
            "max_tokens": 32000,
            "temperature": 0.3,
            "top_k": 10,
            "top_p": 0.5,
        },
        max_output=64000,
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 32000
    # Anthropic refuses temperature/top_k (and top_p below 0.95) with thinking on.
    assert not {"temperature", "top_k", "top_p"} & set(body)


def test_thinking_budget_is_capped_below_max_tokens() -> None:
    body = build({"messages": [USER], "reasoning_effort": "high", "max_tokens": 6000, "top_p": 0.97})
    assert body["thinking"]["budget_tokens"] == 5999 and body["max_tokens"] == 6000
    assert body["top_p"] == 0.97


def test_max_tokens_is_raised_when_below_the_minimum_budget() -> None:
    body = build({"messages": [USER], "reasoning_effort": "low", "max_tokens": 500})
    assert body["thinking"]["budget_tokens"] == 1024
    assert body["max_tokens"] == 1524  # the budget plus the answer room asked for


def test_minimal_effort_means_no_thinking() -> None:
    assert "thinking" not in build({"messages": [USER], "reasoning_effort": "minimal"})


def test_thinking_is_off_for_forced_tools_and_tool_result_turns() -> None:
    tools = [{"type": "function", "function": {"name": "now"}}]
    assert "thinking" not in build(
        {"messages": [USER], "tools": tools, "tool_choice": "required", "reasoning_effort": "low"}
    )
    loop = [
        USER,
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "now", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "noon"},
    ]
    assert "thinking" not in build({"messages": loop, "tools": tools, "reasoning_effort": "low"})


def test_json_schema_is_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    body = build(
        {
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "person", "schema": schema, "strict": True},
            },
        }
    )
    assert body["tools"] == [
        {
            "name": JSON_TOOL,
            "description": "Give your final answer as JSON matching this schema.",
            "input_schema": schema,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


def test_json_schema_that_is_not_an_object_is_wrapped() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    body = build(
        {
            "messages": [USER],
            "response_format": {"type": "json_schema", "json_schema": {"name": "nums", "schema": schema}},
        }
    )
    assert body["tools"][0]["name"] == JSON_VALUE_TOOL
    assert body["tools"][0]["input_schema"] == {
        "type": "object",
        "properties": {"value": schema},
        "required": ["value"],
    }
    assert body["tool_choice"] == {"type": "tool", "name": JSON_VALUE_TOOL}


def test_json_object_with_client_tools_lets_the_model_pick_a_tool() -> None:
    tools = [{"type": "function", "function": {"name": "now"}}]
    body = build({"messages": [USER], "tools": tools, "response_format": {"type": "json_object"}})
    assert [t["name"] for t in body["tools"]] == ["now", JSON_TOOL]
    assert body["tools"][1]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "any"}


def test_text_response_format_changes_nothing() -> None:
    assert "tools" not in build({"messages": [USER], "response_format": {"type": "text"}})


def test_empty_messages_are_skipped_and_bad_roles_refused() -> None:
    body = build({"messages": [{"role": "user", "content": ""}, USER]})
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    with pytest.raises(UpstreamError):
        build({"messages": [{"role": "function", "name": "f", "content": "x"}]})


@pytest.mark.parametrize(
    ("model", "adaptive"),
    [
        ("claude-3-7-sonnet-20250219", False),
        ("claude-sonnet-4-20250514", False),
        ("claude-opus-4-1-20250805", False),
        ("claude-sonnet-4-5-20250929", False),
        ("claude-haiku-4-5", False),
        ("my-proxy-alias", False),
        ("claude-sonnet-4-6", True),
        ("claude-opus-4-7", True),
        ("claude-sonnet-5", True),
        ("anthropic/claude-opus-5-20260101", True),
    ],
)
def test_which_models_use_adaptive_thinking(model: str, adaptive: bool) -> None:
    assert uses_adaptive_thinking(model) is adaptive


def test_adaptive_thinking_uses_effort_not_a_budget() -> None:
    body = build(
        {"messages": [USER], "reasoning_effort": "medium", "max_tokens": 500, "temperature": 0.5},
        upstream_model="claude-opus-4-7",
    )
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "medium"}
    assert body["max_tokens"] == 500 and "temperature" not in body


def test_explicit_anthropic_thinking_object_is_honoured() -> None:
    body = build(
        {"messages": [USER], "thinking": {"type": "enabled", "budget_tokens": 3000}, "max_tokens": 9000}
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    body = build({"messages": [USER], "thinking": {"type": "disabled"}, "reasoning_effort": "high"})
    assert "thinking" not in body  # the client's own object wins over reasoning_effort


def test_tool_schema_without_a_type_is_an_object_schema() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"properties": {"a": {"type": "string"}}}},
        }
    ]
    schema = build({"messages": [USER], "tools": tools})["tools"][0]["input_schema"]
    assert schema == {"type": "object", "properties": {"a": {"type": "string"}}}
