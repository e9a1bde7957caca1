"""OpenAI chat body -> Anthropic Messages body."""

from __future__ import annotations

import pytest

from farebox.providers.base import UpstreamError
from tests.support.anthropic_adapter import UPSTREAM_MODEL, build, make_provider, make_target

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
    # both set: the larger (docs/billing.md), clamped to the model's max_output
    assert build({"messages": [USER], "max_tokens": 100, "max_completion_tokens": 50})["max_tokens"] == 100
    assert build({"messages": [USER], "max_tokens": 100000}, max_output=2048)["max_tokens"] == 2048


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
