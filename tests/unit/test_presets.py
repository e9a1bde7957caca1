"""The OpenAI-compatible family's quirks: what each preset sends upstream for the same client body."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from farebox.config import ModelConfig, Price, ProviderConfig
from farebox.protocol.sse import SSEEvent
from farebox.providers.base import Target
from farebox.providers.openai_compat import OpenAICompatProvider
from farebox.providers.presets import PRESETS, preset_for
from farebox.providers.quirks import mistral_tool_id

CALL = {"id": "call_Xk29fPq8aZ0bYw7L", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
BODY: dict[str, Any] = {
    "model": "client-model",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?", "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [CALL], "reasoning_content": "look it up"},
        {"role": "tool", "tool_call_id": CALL["id"], "content": "sunny"},
        {"role": "user", "content": "Thanks. And tomorrow?"},
    ],
    "temperature": 0.2, "seed": 7, "max_completion_tokens": 300, "n": 1, "logprobs": True, "top_logprobs": 2,
    "logit_bias": {"42": -100}, "presence_penalty": 0.1, "frequency_penalty": 0.1, "user": "u-1",
    "parallel_tool_calls": True, "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1,
    "chat_template_kwargs": {"enable_thinking": False}, "prompt_cache_key": "k", "service_tier": "auto",
    "stream_options": {"include_usage": False},
}


def provider(preset: str | None = None, base_url: str = "http://10.0.0.5:8000/v1",
             **extra: Any) -> OpenAICompatProvider:
    return OpenAICompatProvider("up", ProviderConfig(kind="openai", base_url=base_url, preset=preset,
                                                     api_key="sk-up", **extra))


def build(p: OpenAICompatProvider, body: dict[str, Any] | None = None, *, stream: bool = False) -> dict[str, Any]:
    model = ModelConfig(tier="pro", price=Price(input=1, output=2))
    original = copy.deepcopy(body or BODY)
    sent = json.loads(p.build_request(body or BODY, Target("m", "up", p.config, "upstream-model", model),
                                      stream=stream).body)
    assert (body or BODY) == original  # the client's body is never changed (failover reuses it)
    assert sent["model"] == "upstream-model"
    return dict(sent)


def test_vllm_passes_everything_including_sampling_extras() -> None:
    sent = build(provider("vllm"))
    assert {k: sent[k] for k in ("top_k", "min_p", "repetition_penalty", "chat_template_kwargs")} == \
        {"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "chat_template_kwargs": {"enable_thinking": False}}
    assert sent["max_tokens"] == 300 and "max_completion_tokens" not in sent and sent["seed"] == 7
    assert "stream_options" not in sent and sent["stream"] is False
    streamed = build(provider("vllm"), stream=True)
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}


def test_openai_drops_server_extras_and_uses_max_completion_tokens() -> None:
    sent = build(provider("openai"))
    assert not {"top_k", "min_p", "repetition_penalty", "chat_template_kwargs"} & set(sent)
    legacy = build(provider("openai"), {"model": "x", "messages": BODY["messages"][:2], "max_tokens": 50})
    assert legacy["max_completion_tokens"] == 50 and "max_tokens" not in legacy


def test_mistral_sends_only_its_fields_with_random_seed_and_short_tool_ids() -> None:
    sent = build(provider(base_url="https://api.mistral.ai/v1"), stream=True)
    assert sent["random_seed"] == 7 and "seed" not in sent
    assert sent["max_tokens"] == 300 and "max_completion_tokens" not in sent
    assert set(sent) <= {"model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
                         "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n",
                         "prediction", "parallel_tool_calls", "prompt_mode", "safe_prompt"}
    assert "stream_options" not in sent and "logprobs" not in sent and "user" not in sent
    assistant, tool = sent["messages"][2], sent["messages"][3]
    new_id = assistant["tool_calls"][0]["id"]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", new_id) and tool["tool_call_id"] == new_id
    assert "reasoning_content" not in assistant
    assert "logprobs" not in provider("mistral").supported_features


def test_mistral_tool_ids_are_stable_and_keep_valid_ones() -> None:
    assert mistral_tool_id("D681PevKs") == "D681PevKs"  # Mistral's own IDs come back unchanged
    ids = {mistral_tool_id(f"call_{i}") for i in range(500)}
    assert len(ids) == 500 and all(re.fullmatch(r"[A-Za-z0-9]{9}", i) for i in ids)
    assert mistral_tool_id("toolu_01A09q90qw90lq917835lq9") == mistral_tool_id("toolu_01A09q90qw90lq917835lq9")


def test_deepseek_strips_past_reasoning_and_unsupported_fields() -> None:
    sent = build(provider(base_url="https://api.deepseek.com/v1"), stream=True)
    assert "reasoning_content" not in sent["messages"][2]  # a past turn: a 400 if sent
    assert sent["max_tokens"] == 300 and sent["stream_options"] == {"include_usage": True}
    assert not {"n", "seed", "parallel_tool_calls", "logit_bias", "top_k", "prompt_cache_key"} & set(sent)
    # Within the current turn (tool steps after the last user message) the thinking mode needs it back.
    current = {"model": "x", "messages": BODY["messages"][:4]}
    assert build(provider("deepseek"), current)["messages"][2]["reasoning_content"] == "look it up"


def test_groq_drops_what_it_answers_400_to() -> None:
    sent = build(provider(base_url="https://api.groq.com/openai/v1"))
    assert not {"logprobs", "top_logprobs", "logit_bias", "n", "top_k", "service_tier"} & set(sent)
    assert all("name" not in m and "reasoning_content" not in m for m in sent["messages"])
    assert sent["max_completion_tokens"] == 300 and sent["seed"] == 7
    assert "logprobs" not in provider("groq").supported_features


def test_cerebras_drops_penalties_and_parallel_tool_calls() -> None:
    sent = build(provider(base_url="https://api.cerebras.ai/v1"))
    assert not {"presence_penalty", "frequency_penalty", "logit_bias", "parallel_tool_calls", "service_tier",
                "top_k"} & set(sent)
    assert sent["logprobs"] is True and sent["max_completion_tokens"] == 300
    assert all("reasoning_content" not in m for m in sent["messages"])


@pytest.mark.parametrize("preset", ["ollama", "llamacpp"])
def test_local_servers_get_max_tokens_and_no_n(preset: str) -> None:
    sent = build(provider(preset))
    assert sent["max_tokens"] == 300 and "max_completion_tokens" not in sent and "n" not in sent
    assert "chat_template_kwargs" not in sent and "prompt_cache_key" not in sent
    assert build(provider(preset), stream=True)["stream_options"] == {"include_usage": True}


def test_openrouter_attribution_headers_default_and_override() -> None:
    default = provider(base_url="https://openrouter.ai/api/v1")
    assert default.headers["HTTP-Referer"] and default.headers["X-Title"] == "farebox"
    custom = provider("openrouter", headers={"HTTP-Referer": "https://llmdeal.example", "X-Title": "llmdeal"})
    assert (custom.headers["HTTP-Referer"], custom.headers["X-Title"]) == ("https://llmdeal.example", "llmdeal")
    assert custom.headers["Authorization"] == "Bearer sk-up"
    assert build(custom)["top_k"] == 20  # OpenRouter forwards the sampling extras itself


def test_drop_params_from_config_apply_on_top_of_the_preset() -> None:
    sent = build(provider("vllm", drop_params=["top_k", "seed"]))
    assert "top_k" not in sent and "seed" not in sent and sent["min_p"] == 0.05
    assert "random_seed" not in build(provider("mistral", drop_params=["random_seed"]))


def test_presets_chosen_by_name_or_host() -> None:
    assert preset_for(None, "https://codestral.mistral.ai/v1").name == "mistral"
    assert preset_for(None, "http://127.0.0.1:11434/v1").name == "vllm"
    assert preset_for("groq", "http://proxy.internal/v1").name == "groq"
    with pytest.raises(ValueError, match="unknown preset"):
        preset_for("nope", "")
    assert set(PRESETS) >= {"openai", "vllm", "llamacpp", "ollama", "deepseek", "mistral", "cerebras", "groq",
                            "openrouter"}


async def test_groq_usage_in_x_groq_is_lifted() -> None:
    async def events() -> AsyncIterator[SSEEvent]:
        chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]},
                  {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "x_groq": {"id": "req_1",
                              "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}}]
        for chunk in chunks:
            yield SSEEvent(data=json.dumps(chunk).encode())
        yield SSEEvent(data=b"[DONE]")

    p = provider("groq")
    model = ModelConfig(tier="pro", price=Price(input=1, output=2))
    out = [c async for c in p.parse_stream(events(), Target("m", "up", p.config, "m", model))]
    assert out[-1]["usage"] == {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    assert "usage" not in out[0]
