"""Round trips through the gateway to the fake Gemini API, with the official openai SDK.

Every response and stream is checked against the official OpenAI spec; every charge against the
configured prices (cached input included)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.fakes.gemini_upstream import API_KEY, FakeGemini, Reply
from tests.fakes.native_fakes import threaded_gemini
from tests.spec import assert_valid
from tests.support.gateway import Gateway
from tests.support.sdk import echo, extras, function_calls, user

CONFIG = """
providers:
  google: {kind: gemini, base_url: "%(gemini)s", api_key: "%(key)s"}
  backup: {kind: openai, base_url: "%(openai)s"}
models:
  flash:
    tier: starter
    context: 1000000
    max_output: 8192
    price: {input: 0.30, output: 2.50, cached_input: 0.03}
    features: [tools, json_object, json_schema, vision, reasoning, prompt_cache, logprobs]
    deployments: [{provider: google, model: gemini-2.5-flash}]
  flash-ha:
    tier: starter
    price: {input: 0.30, output: 2.50}
    deployments:
      - {provider: google, model: gemini-2.5-flash, priority: 1}
      - {provider: backup, model: backup-model, priority: 2}
"""
USER = user("Hi")
UNAVAILABLE = {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}


@pytest.fixture
def upstream() -> Iterator[tuple[str, FakeGemini]]:
    with threaded_gemini() as started:
        yield started


@pytest.fixture
def fake(upstream: tuple[str, FakeGemini]) -> FakeGemini:
    return upstream[1]


@pytest.fixture
def gateway(upstream: tuple[str, FakeGemini], fake_openai: FakeOpenAI,
            make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % {"gemini": upstream[0], "key": API_KEY, "openai": fake_openai.base_url})


def cost(prompt: int, cached: int, output: int) -> int:
    # 0.30 / 0.03 / 2.50 USD per 1M tokens = 300 / 30 / 2500 nano-USD per token
    return (prompt - cached) * 300 + cached * 30 + output * 2500


def sent(fake: FakeGemini) -> dict[str, Any]:
    return fake.requests[-1].json






def test_plain_chat_with_cached_usage(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("gia")
    fake.push(Reply(text="Ciao a tutti", prompt_tokens=900, cached_tokens=600))
    raw = gateway.client(key).chat.completions.with_raw_response.create(model="flash", messages=[USER])
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    resp = raw.parse()
    assert resp.model == "flash" and resp.choices[0].message.content == "Ciao a tutti"
    assert resp.usage is not None and resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens == 900 and resp.usage.completion_tokens == 3
    assert resp.usage.prompt_tokens_details.cached_tokens == 600
    expected = cost(900, 600, 3)
    assert round(extras(resp.usage)["credits_used_usd"] * 1e9) == expected
    assert [r["amount_nano"] for r in gateway.charges("gia")] == [-expected]
    assert fake.requests[-1].model == "gemini-2.5-flash" and fake.requests[-1].method == "generateContent"
    assert fake.requests[-1].headers["x-goog-api-key"] == API_KEY
    assert all(row["ok"] for row in gateway.check())


def test_system_prompt_and_multi_turn(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("sys")
    fake.push(Reply(text="Paris."))
    gateway.client(key).chat.completions.create(model="flash", max_tokens=100, temperature=0.3, messages=[
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome."},
        {"role": "user", "content": "And of France?"}])
    body = sent(fake)
    assert body["systemInstruction"]["parts"] == [{"text": "Answer in one word."}]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"]["maxOutputTokens"] == 100
    assert body["generationConfig"]["temperature"] == 0.3


def test_streaming_with_usage(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("streamer")
    fake.push(Reply(text="one two three four five", prompt_tokens=50, cached_tokens=20),
              Reply(text="again and again"))
    chunks = list(gateway.client(key).chat.completions.create(
        model="flash", messages=[USER], stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three four five"
    assert all(c.model == "flash" for c in chunks)
    final = chunks[-1]
    assert final.choices == [] and final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (50, 5)
    assert round(extras(final.usage)["credits_used_usd"] * 1e9) == cost(50, 20, 5)
    assert fake.requests[-1].method == "streamGenerateContent" and fake.requests[-1].query == {"alt": "sse"}
    gateway.raw_stream(key, {"model": "flash", "messages": [USER]})
    assert len(gateway.charges("streamer")) == 2


WEATHER: ChatCompletionFunctionToolParam = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "additionalProperties": False, "properties": {"city": {"type": "string"}},
    "required": ["city"]}, "strict": True}}
TIME: ChatCompletionFunctionToolParam = {
    "type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def test_parallel_tool_calls_and_results(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("tools")
    client = gateway.client(key)
    fake.push(Reply(text="", tool_calls=[("get_weather", {"city": "Oslo"}), ("get_time", {})]))
    raw = client.chat.completions.with_raw_response.create(model="flash", messages=[USER], tools=[WEATHER, TIME],
                                                           tool_choice="auto")
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = function_calls(choice.message)
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == \
        [("get_weather", {"city": "Oslo"}), ("get_time", {})]
    assert len({c.id for c in calls}) == 2
    declarations = sent(fake)["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declarations] == ["get_weather", "get_time"]
    assert "additionalProperties" not in json.dumps(declarations)
    fake.push(Reply(text="Sunny at noon."))
    client.chat.completions.create(model="flash", tools=[WEATHER, TIME], messages=[
        USER, echo(choice.message),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": '{"time": "12:00"}'}])
    contents = sent(fake)["contents"]
    assert [p["functionCall"]["name"] for p in contents[1]["parts"]] == ["get_weather", "get_time"]
    responses = [p["functionResponse"] for c in contents[2:] for p in c["parts"]]
    assert [r["name"] for r in responses] == ["get_weather", "get_time"]


def test_streamed_tool_calls(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("stools")
    fake.push(Reply(text="", tool_calls=[("get_weather", {"city": "Oslo"}), ("get_time", {})]))
    args: dict[int, str] = {}
    finish = None
    for chunk in gateway.client(key).chat.completions.create(model="flash", messages=[USER], tools=[WEATHER, TIME],
                                                              stream=True):
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                assert call.function is not None
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
    assert finish == "tool_calls"
    assert {i: json.loads(a) for i, a in args.items()} == {0: {"city": "Oslo"}, 1: {}}
    fake.push(Reply(text="", tool_calls=[("get_time", {})]))
    gateway.raw_stream(key, {"model": "flash", "messages": [USER], "tools": [TIME]})


def test_json_schema_output(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("json")
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    fake.push(Reply(text='{"city": "Oslo"}'))
    resp = gateway.client(key).chat.completions.create(model="flash", messages=[USER], response_format={
        "type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": True}})
    assert json.loads(resp.choices[0].message.content or "") == {"city": "Oslo"}
    config = sent(fake)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["properties"] == {"city": {"type": "string"}}


def test_inline_image(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("vision")
    fake.push(Reply(text="A red dot."))
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    gateway.client(key).chat.completions.create(model="flash", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]}])
    parts = sent(fake)["contents"][0]["parts"]
    assert parts == [{"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": png}}]


def test_reasoning_streamed_and_not(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("thinker")
    client = gateway.client(key)
    fake.push(Reply(text="42", thoughts="six times seven", prompt_tokens=10))
    resp = client.chat.completions.create(model="flash", messages=[USER], reasoning_effort="medium")
    assert resp.choices[0].message.content == "42"
    assert extras(resp.choices[0].message)["reasoning_content"] == "six times seven"
    assert resp.usage is not None and resp.usage.completion_tokens_details is not None
    assert resp.usage.completion_tokens == 4 and resp.usage.completion_tokens_details.reasoning_tokens == 3
    assert sent(fake)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 4096, "includeThoughts": True}
    fake.push(Reply(text="42", thoughts="six times seven"))
    reasoning = content = ""
    for chunk in client.chat.completions.create(model="flash", messages=[USER], reasoning_effort="medium",
                                                stream=True):
        for choice in chunk.choices:
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            content += choice.delta.content or ""
    assert (reasoning, content) == ("six times seven", "42")


def test_error_mid_stream_ends_with_error_event_and_done(gateway: Gateway, fake: FakeGemini) -> None:
    key = gateway.account("midway")
    fake.push(Reply(text="a long answer that will be cut", stream_error=UNAVAILABLE))
    body = gateway.raw_stream(key, {"model": "flash", "messages": [USER]})
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: {")]
    assert any(e.get("choices") and e["choices"][0]["delta"].get("content") for e in events)
    assert events[-1]["error"]["code"] == "model_unavailable"
    gateway.wait_idle()
    assert [r["outcome"] for r in gateway.charges("midway")] == ["stream_error"]


def test_unavailable_fails_over_or_becomes_503(gateway: Gateway, fake: FakeGemini, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("busy")
    client = gateway.client(key)
    fake_openai.default = Script(text="from the backup")
    fake.push(Reply(status=503, error=UNAVAILABLE))
    assert client.chat.completions.create(model="flash-ha", messages=[USER]).choices[0].message.content == \
        "from the backup"
    for _ in range(5):  # the one deployment is retried (with backoff) up to failover.max_attempts
        fake.push(Reply(status=503, error=UNAVAILABLE))
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="flash", messages=[USER])
    assert err.value.status_code == 503 and err.value.code == "model_unavailable"


def test_invalid_argument_400_passes_through(gateway: Gateway, fake: FakeGemini, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("bad")
    fake.push(Reply(status=400, error={"code": 400, "message": "Unable to process input image.",
                                       "status": "INVALID_ARGUMENT"}))
    with pytest.raises(openai.BadRequestError) as err:
        gateway.client(key).chat.completions.create(model="flash-ha", messages=[USER])
    assert "Unable to process input image" in err.value.message
    assert fake_openai.requests == [] and gateway.charges("bad") == []
