"""The chat relay through the official openai SDK, against a fake OpenAI-compatible upstream."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest
from openai import omit
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
    ChatCompletionStreamOptionsParam,
)

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.spec import assert_sse_valid, assert_valid
from tests.support import http as httpx
from tests.support.databases import both_databases
from tests.support.gateway import Gateway
from tests.support.sdk import extras, function_calls

pytestmark = both_databases

CONFIG = """
providers:
  up: {kind: openai, base_url: "%s", api_key: upstream-secret}
models:
  coder:
    tier: starter
    context: 16384
    max_output: 2048
    price: {input: 0.20, output: 0.60, cached_input: 0.05}
    features: [tools, json_object, json_schema, logprobs, reasoning]
    deployments: [{provider: up, model: Qwen/Qwen2.5-Coder-32B-Instruct}]
  big:
    tier: elite
    context: 65536
    price: {input: 3, output: 15}
    deployments: [{provider: up, model: big-upstream}]
"""


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


def cost_nano(prompt: int, cached: int, completion: int) -> int:
    # 0.20 / 0.05 / 0.60 USD per 1M tokens = 200 / 50 / 600 nano-USD per token
    return (prompt - cached) * 200 + cached * 50 + completion * 600


def test_non_streaming_reply_usage_and_ledger(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("alice", "pro")
    fake_openai.default = Script(text="Refactored the loop.", prompt_tokens=412, completion_tokens=87,
                                 cached_tokens=100, omit_nulls=True)
    client = gateway.client(key)
    raw = client.chat.completions.with_raw_response.create(
        model="coder", messages=[{"role": "user", "content": "Summarise this PR"}], temperature=0.2,
        extra_body={"top_k": 20, "chat_template_kwargs": {"enable_thinking": False}, "custom_field": 1})
    resp = raw.parse()
    assert resp.model == "coder"
    assert resp.choices[0].message.content == "Refactored the loop."
    extra = extras(resp.usage)
    assert extra["model_used"] == "coder"
    expected = cost_nano(412, 100, 87)
    assert round(extra["credits_used_usd"] * 1e9) == expected
    assert raw.headers["x-farebox-model-used"] == "coder"
    assert int(raw.headers["x-ratelimit-remaining"]) >= 0
    assert raw.headers["x-request-id"]
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    sent = fake_openai.requests[-1]
    assert sent["model"] == "Qwen/Qwen2.5-Coder-32B-Instruct"
    assert sent["top_k"] == 20 and sent["temperature"] == 0.2
    assert "custom_field" not in sent and raw.headers["x-farebox-dropped-params"] == "custom_field"  # allow-list
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}
    assert fake_openai.headers[-1]["Authorization"] == "Bearer upstream-secret"
    charges = [r for r in gateway.ledger("alice") if r["kind"] == "charge"]
    assert len(charges) == 1 and charges[0]["amount_nano"] == -expected
    assert charges[0]["request_id"] and resp.id == f"chatcmpl-{charges[0]['request_id']}"
    assert charges[0]["deployment"] == "up/Qwen/Qwen2.5-Coder-32B-Instruct"
    assert all(row["ok"] for row in gateway.check())


@pytest.mark.parametrize("include_usage", [True, False])
def test_streaming_usage_chunk(gateway: Gateway, fake_openai: FakeOpenAI, include_usage: bool) -> None:
    key = gateway.account("bob", "pro")
    fake_openai.default = Script(text="one two three four", prompt_tokens=50, completion_tokens=4,
                                 omit_nulls=True)
    client = gateway.client(key)
    options: ChatCompletionStreamOptionsParam = {"include_usage": True}
    kwargs = {"stream_options": options} if include_usage else {}
    chunks = list(client.chat.completions.create(model="coder", messages=[{"role": "user", "content": "count"}],
                                                 stream=True, stream_options=kwargs.get("stream_options", omit)))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "one two three four"
    assert all(c.model == "coder" for c in chunks)
    final = chunks[-1]
    assert final.usage is not None and final.usage.completion_tokens == 4
    assert extras(final.usage)["model_used"] == "coder"
    assert round(extras(final.usage)["credits_used_usd"] * 1e9) == cost_nano(50, 0, 4)
    if include_usage:
        assert final.choices == []
        assert all(c.usage is None for c in chunks[:-1])
    else:
        assert final.choices[0].finish_reason == "stop"
    assert fake_openai.requests[-1]["stream_options"] == {"include_usage": True}
    body = httpx.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body={"model": "coder", "stream": True, **kwargs,
                            "messages": [{"role": "user", "content": "x"}]}).text
    assert body.endswith("data: [DONE]\n\n")
    assert_sse_valid(body)
    charges = [r for r in gateway.ledger("bob") if r["kind"] == "charge"]
    assert len(charges) == 2


def test_tool_calls_and_reasoning_pass_through(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("carol", "pro")
    calls = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
             {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]
    fake_openai.default = Script(tool_calls=calls, finish_reason="tool_calls", reasoning="think first",
                                 reasoning_tokens=3)
    tools: list[ChatCompletionFunctionToolParam] = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    client = gateway.client(key)
    resp = client.chat.completions.create(model="coder", messages=[{"role": "user", "content": "weather?"}],
                                          tools=tools, tool_choice="auto")
    message = resp.choices[0].message
    assert [c.function.name for c in function_calls(message)] == ["get_weather", "get_time"]
    assert extras(message)["reasoning_content"] == "think first"
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.usage is not None and resp.usage.completion_tokens_details is not None
    assert resp.usage.completion_tokens_details.reasoning_tokens == 3
    stream = client.chat.completions.create(model="coder", messages=[{"role": "user", "content": "weather?"}],
                                            tools=tools, stream=True)
    args: dict[int, str] = {}
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                assert call.function is not None
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
    assert args == {0: '{"city":"Oslo"}', 1: "{}"}


def test_errors_are_openai_envelopes(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("dave", "starter")
    client = gateway.client(key)
    with pytest.raises(openai.AuthenticationError) as auth:
        gateway.client("sk-" + "x" * 45).chat.completions.create(model="coder", messages=[{"role": "user",
                                                                                          "content": "hi"}])
    assert auth.value.code == "invalid_api_key"
    with pytest.raises(openai.PermissionDeniedError) as tier:
        client.chat.completions.create(model="big", messages=[{"role": "user", "content": "hi"}])
    assert tier.value.code == "tier_does_not_allow_model"
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="coder", messages=[{"role": "user", "content": 5}])  # type: ignore
    assert bad.value.param == "messages[0].content"
    base = gateway.base_url
    auth_header = {"Authorization": f"Bearer {key}"}
    cases = [
        (httpx.get(f"{base}/nope"), 404, "not_found"),
        (httpx.delete(f"{base}/chat/completions"), 405, "method_not_allowed"),
        (httpx.post(f"{base}/chat/completions", headers=auth_header, content=b"{oops"), 415,
         "unsupported_media_type"),
        (httpx.post(f"{base}/chat/completions", headers={**auth_header, "Content-Type": "application/json"},
                    content=b"{oops"), 400, "invalid_request_error"),
        (httpx.post(f"{base}/chat/completions", headers=auth_header,
                    json_body={"model": "coder", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
         400, "invalid_request_error"),
        (httpx.post(f"{base}/chat/completions", headers=auth_header,
                    json_body={"model": "coder", "messages": [{"role": "user", "content": "x"}],
                          "temperature": "0.5"}), 400, "invalid_request_error"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert_valid(response.json(), "ErrorResponse")
    deep: object = "x"
    for _ in range(100):
        deep = [deep]
    response = httpx.post(f"{base}/chat/completions", headers=auth_header,
                          json_body={"model": "coder", "messages": [{"role": "user", "content": "x"}], "extra": deep})
    assert response.status_code == 400 and "nests deeper than" in response.json()["error"]["message"]
    # More brackets than the depth limit, but shallow: accepted.
    many: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": [{"type": "text", "text": f"part {i}"}]} for i in range(80)]
    assert client.chat.completions.create(model="coder", messages=many).choices


def test_models_list_follows_tier(gateway: Gateway) -> None:
    starter = gateway.client(gateway.account("erin", "starter"))
    elite = gateway.client(gateway.account("fay", "elite"))
    assert [m.id for m in starter.models.list()] == ["smart-route", "coder"]
    assert [m.id for m in elite.models.list()] == ["smart-route", "coder", "big"]
    assert elite.models.retrieve("big").owned_by == "up"
    with pytest.raises(openai.NotFoundError):
        starter.models.retrieve("big")


def test_upstream_without_usage_is_counted(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("gus", "pro")
    fake_openai.default = Script(text="a reply of several words here", send_usage=False)
    resp = gateway.client(key).chat.completions.create(model="coder", messages=[{"role": "user", "content": "hi"}])
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    charge = [r for r in gateway.ledger("gus") if r["kind"] == "charge"][0]
    assert charge["completion_tokens"] == resp.usage.completion_tokens
