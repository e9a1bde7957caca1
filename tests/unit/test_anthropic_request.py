"""OpenAI chat body -> Anthropic Messages body."""

from __future__ import annotations

import pytest

from farebox.providers.anthropic.request import JSON_TOOL, JSON_VALUE_TOOL
from farebox.providers.anthropic.thinking import uses_adaptive_thinking
from farebox.providers.base import UpstreamError
from tests.unit.anthropic_support import UPSTREAM_MODEL, build, make_provider, make_target

USER = {"role": "user", "content": "Hi"}


def test_url_and_headers() -> None:
    provider = make_provider(headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    request = provider.build_request({"messages": [USER]}, make_target(provider), stream=False)
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["anthropic-beta"] == "prompt-caching-2024-07-31"


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9/", "http://127.0.0.1:9/v1"])
def test_base_url_is_the_host_root_with_or_without_v1(base_url: str) -> None:
    provider = make_provider(base_url=base_url)
    request = provider.build_request({"messages": [USER]}, make_target(provider), stream=False)
    assert request.url == "http://127.0.0.1:9/v1/messages"


def test_system_messages_are_joined_and_turns_merged() -> None:
    body = build(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hello"},
                {"role": "user", "content": [{"type": "text", "text": "Are you there?"}]},
                {"role": "assistant", "content": "Oui."},
                {"role": "assistant", "content": [{"type": "text", "text": "Bonjour."}]},
                {"role": "user", "content": "Thanks"},
            ]
        }
    )
    assert body["model"] == UPSTREAM_MODEL
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "Are you there?"}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Oui."}, {"type": "text", "text": "Bonjour."}],
        },
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
    ]


def test_cache_control_is_kept_and_makes_system_blocks() -> None:
    mark = {"type": "ephemeral"}
    body = build(
        {
            "messages": [
                {
                    "role": "system",
                    "content": [{"type": "text", "text": "Long rules", "cache_control": mark}],
                },
                {"role": "user", "content": [{"type": "text", "text": "Q", "cache_control": mark}]},
            ]
        }
    )
    assert body["system"] == [{"type": "text", "text": "Long rules", "cache_control": mark}]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "Q", "cache_control": mark}]


def test_images_base64_and_url() -> None:
    body = build(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in these?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"},
                        },
                    ],
                }
            ]
        }
    )
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_pdf_file_becomes_a_document() -> None:
    body = build(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "file",
                            "file": {
                                "filename": "a.pdf",
                                "file_data": "data:application/pdf;base64,JVBERi0=",
                            },
                        }
                    ],
                }
            ]
        }
    )
    assert body["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
        }
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    ],
)
def test_untranslatable_parts_are_400(part: dict[str, object]) -> None:
    with pytest.raises(UpstreamError) as info:
        build({"messages": [{"role": "user", "content": [part]}]})
    assert info.value.status == 400 and not info.value.retryable


def test_tools_and_tool_choice() -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather by city",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    now = {"type": "function", "function": {"name": "now"}}
    body = build({"messages": [USER], "tools": [weather, now]})
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather by city",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body
    cases = {
        "auto": {"type": "auto"},
        "none": {"type": "none"},
        "required": {"type": "any"},
        "fn": {"type": "tool", "name": "now"},
    }
    for key, expected in cases.items():
        choice = {"type": "function", "function": {"name": "now"}} if key == "fn" else key
        assert (
            build({"messages": [USER], "tools": [weather, now], "tool_choice": choice})["tool_choice"]
            == expected
        )


def test_parallel_tool_calls_false_disables_parallel_use() -> None:
    tools = [{"type": "function", "function": {"name": "now"}}]
    body = build({"messages": [USER], "tools": tools, "parallel_tool_calls": False})
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body = build(
        {"messages": [USER], "tools": tools, "tool_choice": "required", "parallel_tool_calls": False}
    )
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_tool_choice_without_tools_is_not_sent() -> None:
    assert "tool_choice" not in build({"messages": [USER], "tool_choice": "auto"})


def test_assistant_tool_calls_and_tool_results() -> None:
    body = build(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "not json"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
                {"role": "user", "content": "And tomorrow?"},
            ]
        }
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {
                    "type": "tool_use",
                    "id": "call_2",
                    "name": "get_weather",
                    "input": {"arguments": "not json"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "21C"}],
                },
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


def test_stop_sequences() -> None:
    assert build({"messages": [USER], "stop": "END"})["stop_sequences"] == ["END"]
    assert build({"messages": [USER], "stop": ["a", "b"]})["stop_sequences"] == ["a", "b"]
    assert "stop_sequences" not in build({"messages": [USER], "stop": None})


def test_max_tokens_default_and_overrides() -> None:
    assert build({"messages": [USER]}, max_output=2048)["max_tokens"] == 2048
    assert build({"messages": [USER], "max_tokens": 100})["max_tokens"] == 100
    assert build({"messages": [USER], "max_tokens": 100, "max_completion_tokens": 50})["max_tokens"] == 50


def test_sampling_user_and_dropped_fields() -> None:
    body = build(
        {
            "messages": [USER],
            "temperature": 1.6,
            "top_p": 0.9,
            "top_k": 40,
            "user": "u-42",
            "n": 1,
            "seed": 7,
            "frequency_penalty": 0.5,
            "presence_penalty": 0.1,
            "logprobs": True,
            "top_logprobs": 3,
            "logit_bias": {"50256": -100},
            "store": True,
            "service_tier": "auto",
            "metadata": {"a": "b"},
            "stream_options": {"include_usage": True},
        }
    )
    assert body == {
        "model": UPSTREAM_MODEL,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_tokens": 8192,
        "temperature": 1.0,
        "top_p": 0.9,
        "top_k": 40,
        "metadata": {"user_id": "u-42"},
    }


def test_stream_flag() -> None:
    assert build({"messages": [USER]}, stream=True)["stream"] is True
    assert "stream" not in build({"messages": [USER]})


def test_n_above_one_is_unsupported() -> None:
    with pytest.raises(UpstreamError) as info:
        build({"messages": [USER], "n": 2})
    assert (info.value.status, info.value.code, info.value.param) == (400, "unsupported_feature", "n")


def test_drop_params_from_config() -> None:
    body = build({"messages": [USER], "temperature": 0.2, "top_k": 5}, drop_params=["top_k"])
    assert body["temperature"] == 0.2 and "top_k" not in body


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
        }
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
