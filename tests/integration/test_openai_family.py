"""OpenAI-compatible presets through the gateway: what the fake upstream received, and how each
provider's own usage shape is billed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionAssistantMessageParam, ChatCompletionMessageParam

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.spec import assert_sse_valid, assert_valid
from tests.support import http
from tests.support.gateway import Gateway
from tests.support.sdk import extras, user

CONFIG = """
providers:
  mistral:    {kind: openai, preset: mistral, base_url: "%(url)s", api_key: mk}
  deepseek:   {kind: openai, preset: deepseek, base_url: "%(url)s", api_key: dk}
  llama:      {kind: openai, preset: llamacpp, base_url: "%(url)s"}
  openrouter: {kind: openai, preset: openrouter, base_url: "%(url)s", api_key: ok,
               headers: {X-Title: llmdeal}}
  groq:       {kind: openai, preset: groq, base_url: "%(url)s", api_key: gk}
models:
  codestral:
    tier: starter
    price: {input: 0.30, output: 0.90}
    features: [tools, json_schema, logprobs]
    deployments: [{provider: mistral, model: codestral-latest}]
  deepseek-chat:
    tier: starter
    price: {input: 0.27, output: 1.10, cached_input: 0.07}
    features: [tools, json_object]
    deployments: [{provider: deepseek, model: deepseek-chat}]
  llama-70b:
    tier: starter
    price: {input: 0.10, output: 0.30}
    deployments: [{provider: llama, model: llama-3.3-70b}]
  or-qwen:
    tier: starter
    price: {input: 0.20, output: 0.60}
    deployments: [{provider: openrouter, model: qwen/qwen-2.5-coder-32b-instruct}]
  llama-8b:
    tier: starter
    price: {input: 0.05, output: 0.08}
    features: [tools, logprobs]
    deployments: [{provider: groq, model: llama-3.1-8b-instant}]
"""
USER = user("Hi")


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % {"url": fake_openai.base_url})


def charged(gateway: Gateway, account: str) -> list[int]:
    return [-row["amount_nano"] for row in gateway.ledger(account) if row["kind"] == "charge"]


def test_mistral_tool_ids_seed_and_usage_without_stream_options(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("mia")
    fake_openai.default = Script(text="done", prompt_tokens=100, completion_tokens=10, usage_on_finish=True)
    history: list[ChatCompletionMessageParam] = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_abc123DEF456ghi789", "type": "function", "function": {"name": "run", "arguments": "{}"}},
            {"id": "toolu_01XYZ", "type": "function", "function": {"name": "run", "arguments": "{\"x\":1}"}}]},
        {"role": "tool", "tool_call_id": "call_abc123DEF456ghi789", "content": "ok"},
        {"role": "tool", "tool_call_id": "toolu_01XYZ", "content": "ok too"},
    ]
    chunks = list(gateway.client(key).chat.completions.create(
        model="codestral", messages=history, seed=42, stream=True, user="u1",
        tools=[{"type": "function", "function": {"name": "run", "parameters": {"type": "object"}}}]))
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 100
    sent = fake_openai.requests[-1]
    assert sent["random_seed"] == 42 and "seed" not in sent and "user" not in sent
    assert "stream_options" not in sent
    ids = [c["id"] for c in sent["messages"][1]["tool_calls"]]
    assert all(re.fullmatch(r"[A-Za-z0-9]{9}", i) for i in ids) and len(set(ids)) == 2
    assert [m["tool_call_id"] for m in sent["messages"][2:]] == ids
    assert charged(gateway, "mia") == [100 * 300 + 10 * 900]


def test_deepseek_cache_hit_usage_is_billed_at_the_cached_price(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("dee")
    fake_openai.default = Script(text="hello", reasoning="thought", usage_override={
        "prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
        "prompt_cache_hit_tokens": 800, "prompt_cache_miss_tokens": 200})
    # DeepSeek's reasoning_content echoed back is not a field of the SDK's assistant param.
    earlier: ChatCompletionAssistantMessageParam = {
        "role": "assistant", "content": "Hello!", "reasoning_content": "old thoughts"}  # type: ignore[typeddict-unknown-key]
    resp = gateway.client(key).chat.completions.create(model="deepseek-chat", max_tokens=100, messages=[
        USER, earlier, {"role": "user", "content": "Again"}])
    assert resp.usage is not None and resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == 800
    assert extras(resp.choices[0].message)["reasoning_content"] == "thought"
    expected = 200 * 270 + 800 * 70 + 50 * 1100
    assert round(extras(resp.usage)["credits_used_usd"] * 1e9) == expected
    assert charged(gateway, "dee") == [expected]
    sent = fake_openai.requests[-1]
    assert "reasoning_content" not in sent["messages"][1] and sent["max_tokens"] == 100


@pytest.mark.parametrize("include_usage", [True, False])
def test_llamacpp_usage_on_the_finish_chunk_with_timings(gateway: Gateway, fake_openai: FakeOpenAI,
                                                         include_usage: bool) -> None:
    key = gateway.account("lla")
    fake_openai.default = Script(text="a b c", prompt_tokens=30, completion_tokens=3, usage_on_finish=True,
                                 extra={"timings": {"prompt_n": 30, "predicted_n": 3, "predicted_ms": 41.2}})
    body: dict[str, Any] = {"model": "llama-70b", "stream": True, "messages": [USER], "max_completion_tokens": 64}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    reply = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body=body)
    assert_sse_valid(reply.text)
    events = [json.loads(line[6:]) for line in reply.text.splitlines() if line.startswith("data: {")]
    usages = [e["usage"] for e in events if e.get("usage")]
    assert len(usages) == 1 and usages[0]["prompt_tokens"] == 30 and usages[0]["completion_tokens"] == 3
    assert charged(gateway, "lla") == [30 * 100 + 3 * 300]
    assert fake_openai.requests[-1]["max_tokens"] == 64


def test_openrouter_headers_and_usage_cost(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("ora")
    fake_openai.default = Script(text="hi", usage_override={
        "prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "cost": 0.0000032,
        "prompt_tokens_details": {"cached_tokens": 0}})
    raw = gateway.client(key).chat.completions.with_raw_response.create(model="or-qwen", messages=[USER],
                                                                        extra_body={"top_k": 40})
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    headers = fake_openai.headers[-1]
    assert headers["X-Title"] == "llmdeal" and headers["HTTP-Referer"].startswith("https://")
    assert headers["Authorization"] == "Bearer ok"
    assert fake_openai.requests[-1]["top_k"] == 40
    assert charged(gateway, "ora") == [10 * 200 + 2 * 600]  # our price, not the upstream's cost


def test_groq_lacks_logprobs_and_gets_no_request(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("gro")
    with pytest.raises(openai.BadRequestError) as err:
        gateway.client(key).chat.completions.create(model="llama-8b", messages=[USER], logprobs=True)
    assert err.value.code == "unsupported_feature" and "logprobs" in err.value.message
    assert fake_openai.requests == []
    gateway.client(key).chat.completions.create(model="llama-8b", n=1, messages=[
        {"role": "user", "content": "Hi", "name": "ann"}], logit_bias={"1": 1})
    sent = fake_openai.requests[-1]
    assert "name" not in sent["messages"][0] and "n" not in sent and "logit_bias" not in sent
