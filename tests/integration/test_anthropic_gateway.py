"""Round trips through the gateway to the fake Anthropic Messages API, with the official openai SDK.

Every response and stream is checked against the official OpenAI spec; every charge against the
configured prices (cache reads and writes included)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam

from tests.fakes.anthropic_upstream import API_KEY, FakeAnthropic, Reply
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.fakes.native_fakes import threaded_anthropic
from tests.spec import assert_valid
from tests.support.gateway import Gateway
from tests.support.sdk import echo, extras, function_calls, user

CONFIG = """
providers:
  claude: {kind: anthropic, base_url: "%(anthropic)s", api_key: "%(key)s"}
  backup: {kind: openai, base_url: "%(openai)s"}
models:
  sonnet:
    tier: starter
    context: 200000
    max_output: 8192
    price: {input: 3, output: 15, cached_input: 0.30, cache_write: 3.75}
    features: [tools, json_object, json_schema, vision, reasoning, prompt_cache]
    deployments: [{provider: claude, model: claude-sonnet-4-5}]
  sonnet-ha:
    tier: starter
    max_output: 8192
    price: {input: 3, output: 15}
    deployments:
      - {provider: claude, model: claude-sonnet-4-5, priority: 1}
      - {provider: backup, model: backup-model, priority: 2}
"""
USER = user("Hi")


@pytest.fixture
def upstream() -> Iterator[FakeAnthropic]:
    with threaded_anthropic() as (_, fake):
        yield fake


@pytest.fixture
def gateway(upstream: FakeAnthropic, fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % {"anthropic": upstream.base_url, "key": API_KEY, "openai": fake_openai.base_url})


def cost(fresh: int, read: int, write: int, output: int) -> int:
    # 3 / 0.30 / 3.75 / 15 USD per 1M tokens = 3000 / 300 / 3750 / 15000 nano-USD per token
    return fresh * 3000 + read * 300 + write * 3750 + output * 15000


def sent(fake: FakeAnthropic) -> dict[str, Any]:
    return fake.requests[-1].body






def test_plain_chat_with_cached_usage_is_billed_at_cache_prices(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("ann")
    upstream.script = [Reply.text("Bonjour !", input_tokens=40, cache_read=1000, cache_write=200, output_tokens=9)]
    raw = gateway.client(key).chat.completions.with_raw_response.create(model="sonnet", messages=[USER])
    resp = raw.parse()
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    assert resp.model == "sonnet" and resp.choices[0].message.content == "Bonjour !"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens == 1240 and resp.usage.completion_tokens == 9
    assert resp.usage.prompt_tokens_details.cached_tokens == 1000
    expected = cost(40, 1000, 200, 9)
    assert round(extras(resp.usage)["credits_used_usd"] * 1e9) == expected
    rows = gateway.charges("ann")
    assert [r["amount_nano"] for r in rows] == [-expected]
    assert rows[0]["cached_tokens"] == 1000 and rows[0]["cache_write_tokens"] == 200
    assert sent(upstream)["model"] == "claude-sonnet-4-5" and sent(upstream)["max_tokens"] == 8192
    assert upstream.requests[-1].headers["x-api-key"] == API_KEY
    assert all(row["ok"] for row in gateway.check())


def test_system_prompt_and_multi_turn(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("sys")
    upstream.script = [Reply.text("Paris.")]
    resp = gateway.client(key).chat.completions.create(model="sonnet", max_tokens=300, stop=["END"], messages=[
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome."},
        {"role": "user", "content": "And of France?"}])
    assert resp.choices[0].message.content == "Paris."
    body = sent(upstream)
    assert body["system"] == "Answer in one word."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 300 and body["stop_sequences"] == ["END"]


def test_streaming_text_and_usage(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("streamer")
    upstream.script = [Reply.text("one two three four five", input_tokens=20, cache_read=100, output_tokens=5)]
    chunks = list(gateway.client(key).chat.completions.create(
        model="sonnet", messages=[USER], stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three four five"
    assert all(c.model == "sonnet" for c in chunks)
    final = chunks[-1]
    assert final.choices == [] and final.usage is not None
    assert final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens == 120 and final.usage.prompt_tokens_details.cached_tokens == 100
    assert round(extras(final.usage)["credits_used_usd"] * 1e9) == cost(20, 100, 0, 5)
    assert sent(upstream)["stream"] is True
    body = gateway.raw_stream(key, {"model": "sonnet", "messages": [USER]})
    assert '"finish_reason":"stop"' in body.replace(" ", "")
    assert [r["amount_nano"] for r in gateway.charges("streamer")] == [-cost(20, 100, 0, 5)] * 2


WEATHER: ChatCompletionFunctionToolParam = {
    "type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
TIME: ChatCompletionFunctionToolParam = {
    "type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def test_parallel_tool_calls_and_tool_results(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("tools")
    upstream.script = [Reply.tool_calls(("get_weather", {"city": "Oslo"}), ("get_time", {}), text="Checking.")]
    client = gateway.client(key)
    raw = client.chat.completions.with_raw_response.create(
        model="sonnet", messages=[USER], tools=[WEATHER, TIME], tool_choice="required")
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    message = raw.parse().choices[0].message
    calls = function_calls(message)
    assert raw.parse().choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == \
        [("get_weather", {"city": "Oslo"}), ("get_time", {})]
    body = sent(upstream)
    assert body["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in body["tools"]] == ["get_weather", "get_time"]
    # The second turn carries the calls and their results back.
    upstream.script = [Reply.text("Sunny, 14:00.")]
    follow = client.chat.completions.create(model="sonnet", tools=[WEATHER, TIME], messages=[
        USER, echo(message),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "14:00"}])
    assert follow.choices[0].message.content == "Sunny, 14:00."
    turns = sent(upstream)["messages"]
    uses = [b for b in turns[1]["content"] if b["type"] == "tool_use"]
    results = [b for b in turns[2]["content"] if b["type"] == "tool_result"]
    assert [u["id"] for u in uses] == [r["tool_use_id"] for r in results] == [c.id for c in calls]


def test_streamed_tool_calls(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("stools")
    upstream.script = [Reply.tool_calls(("get_weather", {"city": "Oslo", "unit": "c"}), ("get_time", {"tz": "UTC"}))]
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    finish = None
    for chunk in gateway.client(key).chat.completions.create(model="sonnet", messages=[USER], tools=[WEATHER, TIME],
                                                              stream=True):
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                assert call.function is not None
                names[call.index] = names.get(call.index, "") + (call.function.name or "")
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
    assert names == {0: "get_weather", 1: "get_time"} and finish == "tool_calls"
    assert {i: json.loads(a) for i, a in args.items()} == {0: {"city": "Oslo", "unit": "c"}, 1: {"tz": "UTC"}}
    gateway.raw_stream(key, {"model": "sonnet", "messages": [USER], "tools": [WEATHER]})


def test_json_schema_output(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("json")
    schema: dict[str, object] = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    upstream.script = [Reply.tool_calls(("farebox_json_output", {"city": "Oslo"}))]
    resp = gateway.client(key).chat.completions.create(model="sonnet", messages=[USER], response_format={
        "type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": True}})
    assert json.loads(resp.choices[0].message.content or "") == {"city": "Oslo"}
    assert resp.choices[0].finish_reason == "stop" and not resp.choices[0].message.tool_calls
    body = sent(upstream)
    assert body["tool_choice"] == {"type": "tool", "name": "farebox_json_output"}
    assert body["tools"][0]["input_schema"] == schema


def test_images_base64_and_url(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("vision")
    upstream.script = [Reply.text("A red dot.")]
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    resp = gateway.client(key).chat.completions.create(model="sonnet", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}])
    assert resp.choices[0].message.content == "A red dot."
    blocks = sent(upstream)["messages"][0]["content"]
    images = [b["source"] for b in blocks if b["type"] == "image"]
    assert images == [{"type": "base64", "media_type": "image/png", "data": png},
                      {"type": "url", "url": "https://example.com/cat.jpg"}]


def test_reasoning_streamed_and_not(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("thinker")
    client = gateway.client(key)
    upstream.script = [Reply.thinking("Six times seven is forty-two.", "42", output_tokens=30)]
    resp = client.chat.completions.create(model="sonnet", messages=[USER], reasoning_effort="low")
    assert resp.choices[0].message.content == "42"
    assert extras(resp.choices[0].message)["reasoning_content"] == "Six times seven is forty-two."
    assert resp.usage is not None and resp.usage.completion_tokens_details is not None
    reasoning_tokens = resp.usage.completion_tokens_details.reasoning_tokens
    assert reasoning_tokens is not None and 0 < reasoning_tokens <= 30
    assert sent(upstream)["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    reasoning = content = ""
    for chunk in client.chat.completions.create(model="sonnet", messages=[USER], reasoning_effort="low",
                                                stream=True):
        for choice in chunk.choices:
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            content += choice.delta.content or ""
    assert (reasoning, content) == ("Six times seven is forty-two.", "42")


def test_error_mid_stream_ends_with_error_event_and_done(gateway: Gateway, upstream: FakeAnthropic) -> None:
    key = gateway.account("midway")
    upstream.script = [Reply.text("a long answer that will be cut", fail_after=5, output_tokens=6)]
    body = gateway.raw_stream(key, {"model": "sonnet", "messages": [USER]})
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: {")]
    assert any(e.get("choices") and e["choices"][0]["delta"].get("content") for e in events)
    assert "error" in events[-1] and events[-1]["error"]["code"] == "model_unavailable"
    gateway.wait_idle()
    assert [r["outcome"] for r in gateway.charges("midway")] == ["stream_error"]
    with pytest.raises(openai.APIError):
        list(gateway.client(key).chat.completions.create(model="sonnet", messages=[USER], stream=True))


def test_overloaded_529_fails_over_or_becomes_503(gateway: Gateway, upstream: FakeAnthropic,
                                                  fake_openai: FakeOpenAI) -> None:
    key = gateway.account("busy")
    client = gateway.client(key)
    upstream.script = [Reply.failure(529, "overloaded_error", "Overloaded")]
    fake_openai.default = Script(text="from the backup")
    resp = client.chat.completions.create(model="sonnet-ha", messages=[USER])
    assert resp.choices[0].message.content == "from the backup"
    assert [r["deployment"] for r in gateway.charges("busy")] == ["backup/backup-model"]
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="sonnet", messages=[USER])
    assert err.value.status_code == 503 and err.value.code == "model_unavailable"
    with pytest.raises(openai.InternalServerError) as err:
        list(client.chat.completions.create(model="sonnet", messages=[USER], stream=True))
    assert err.value.status_code == 503


def test_invalid_request_400_passes_through(gateway: Gateway, upstream: FakeAnthropic,
                                            fake_openai: FakeOpenAI) -> None:
    key = gateway.account("bad")
    upstream.script = [Reply.failure(400, "invalid_request_error", "messages.0: bad image data")]
    with pytest.raises(openai.BadRequestError) as err:
        gateway.client(key).chat.completions.create(model="sonnet-ha", messages=[USER])
    assert "bad image data" in err.value.message and err.value.code == "invalid_request_error"
    assert fake_openai.requests == []  # the client's mistake is not retried elsewhere
    assert gateway.charges("bad") == []
