"""The adapter against the fake Anthropic over real HTTP on loopback: build -> POST -> parse."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from farebox.protocol.sse import iter_sse
from farebox.providers.anthropic import AnthropicProvider
from farebox.providers.base import UpstreamError
from tests.fakes.anthropic_upstream import FakeAnthropic, Reply, start_fake_anthropic
from tests.spec import assert_valid
from tests.support.anthropic_adapter import content_of, make_provider, make_target

USER = {"role": "user", "content": "Hi"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    _, fake = await start_fake_anthropic()
    yield fake
    await fake.close()


def provider_for(fake: FakeAnthropic, **config: Any) -> AnthropicProvider:
    return make_provider(base_url=fake.base_url, **config)


async def call(
    provider: AnthropicProvider, body: dict[str, Any], *, stream: bool = False, timeout: float = 10.0
) -> Any:
    """What the dispatcher does: a completion dict, or the list of chunks; UpstreamError on failure."""
    target = make_target(provider)
    request = provider.build_request(body, target, stream=stream)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(request.url, headers=request.headers, data=request.body) as response,
    ):
        if response.status != 200:
            raise provider.map_error(response.status, await response.read(), dict(response.headers))
        if not stream:
            doc = provider.parse_response(await response.read(), target)
            assert_valid(doc, "CreateChatCompletionResponse")
            return doc
        chunks = [c async for c in provider.parse_stream(iter_sse(response.content), target)]
        for chunk in chunks:
            assert_valid(chunk, "CreateChatCompletionStreamResponse")
        return chunks


async def test_plain_reply(fake: FakeAnthropic) -> None:
    fake.script = [Reply.text("Bonjour !", input_tokens=11, output_tokens=4)]
    doc = await call(
        provider_for(fake),
        {
            "model": "claude",
            "messages": [{"role": "system", "content": "Speak French."}, USER],
            "temperature": 0.2,
            "seed": 1,
        },
    )
    assert doc["choices"][0]["message"]["content"] == "Bonjour !"
    assert doc["usage"]["prompt_tokens"] == 11 and doc["usage"]["completion_tokens"] == 4
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.body == {
        "model": "claude-sonnet-4-5-20250929",
        "system": "Speak French.",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "temperature": 0.2,
    }


async def test_streamed_reply(fake: FakeAnthropic) -> None:
    fake.script = [
        Reply.text("Hello there, how are you today?", input_tokens=30, output_tokens=9, chunk_delay=0.001)
    ]
    chunks = await call(provider_for(fake), {"messages": [USER], "stream": True}, stream=True)
    assert fake.requests[-1].body["stream"] is True
    assert content_of(chunks) == "Hello there, how are you today?"
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 1
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["prompt_tokens"] == 30 and chunks[-1]["usage"]["completion_tokens"] == 9


@pytest.mark.parametrize("stream", [False, True])
async def test_parallel_tool_calls(fake: FakeAnthropic, stream: bool) -> None:
    fake.script = [
        Reply.tool_calls(
            ("get_weather", {"city": "Paris"}),
            ("get_weather", {"city": "Rome, Italy"}),
            text="Checking both.",
        )
    ]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    result = await call(
        provider_for(fake), {"messages": [USER], "tools": tools, "tool_choice": "auto"}, stream=stream
    )
    if stream:
        args: dict[int, str] = {}
        for chunk in result:
            for call_delta in (
                (chunk["choices"][0]["delta"].get("tool_calls") or []) if chunk["choices"] else []
            ):
                args[call_delta["index"]] = (
                    args.get(call_delta["index"], "") + call_delta["function"]["arguments"]
                )
        calls = [json.loads(args[i]) for i in sorted(args)]
        finish = result[-2]["choices"][0]["finish_reason"]
    else:
        message = result["choices"][0]["message"]
        calls = [json.loads(c["function"]["arguments"]) for c in message["tool_calls"]]
        finish = result["choices"][0]["finish_reason"]
    assert calls == [{"city": "Paris"}, {"city": "Rome, Italy"}] and finish == "tool_calls"
    assert fake.requests[-1].body["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize("stream", [False, True])
async def test_thinking(fake: FakeAnthropic, stream: bool) -> None:
    fake.script = [
        Reply.thinking("First, 6 times 7 is 42. Let me double check that.", "42", output_tokens=40)
    ]
    result = await call(
        provider_for(fake),
        {"messages": [USER], "reasoning_effort": "medium", "max_tokens": 2000, "temperature": 0.5},
        stream=stream,
    )
    assert fake.requests[-1].body["thinking"] == {"type": "enabled", "budget_tokens": 1999}
    if stream:
        reasoning, content = content_of(result, "reasoning_content"), content_of(result)
        usage = result[-1]["usage"]
    else:
        message = result["choices"][0]["message"]
        reasoning, content, usage = message["reasoning_content"], message["content"], result["usage"]
    assert reasoning == "First, 6 times 7 is 42. Let me double check that." and content == "42"
    assert 0 < usage["completion_tokens_details"]["reasoning_tokens"] < 40


async def test_adaptive_thinking_model(fake: FakeAnthropic) -> None:
    fake.script = [Reply.thinking("Short thought.", "Done.", output_tokens=20)]
    provider = provider_for(fake)
    target = make_target(provider, upstream_model="claude-opus-4-7")
    request = provider.build_request({"messages": [USER], "reasoning_effort": "high"}, target, stream=False)
    async with (
        aiohttp.ClientSession() as session,
        session.post(request.url, headers=request.headers, data=request.body) as response,
    ):
        assert response.status == 200
        doc = provider.parse_response(await response.read(), target)
    assert doc["choices"][0]["message"]["reasoning_content"] == "Short thought."
    sent = fake.requests[-1].body
    assert sent["thinking"] == {"type": "adaptive"} and sent["output_config"] == {"effort": "high"}


async def test_tool_loop_with_reasoning_effort_is_accepted(fake: FakeAnthropic) -> None:
    # The fake refuses thinking when the last assistant turn has tool_use without a thinking block,
    # as Anthropic does; the adapter must leave thinking off for this turn.
    fake.script = [Reply.text("It is noon.")]
    messages = [
        USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "toolu_01", "type": "function", "function": {"name": "now", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "12:00"},
    ]
    tools = [{"type": "function", "function": {"name": "now"}}]
    doc = await call(provider_for(fake), {"messages": messages, "tools": tools, "reasoning_effort": "low"})
    assert doc["choices"][0]["message"]["content"] == "It is noon."


async def test_cached_tokens(fake: FakeAnthropic) -> None:
    fake.script = [Reply.text("ok", input_tokens=5, cache_read=1000, cache_write=200, output_tokens=2)]
    for stream in (False, True):
        result = await call(provider_for(fake), {"messages": [USER]}, stream=stream)
        usage = result[-1]["usage"] if stream else result["usage"]
        assert usage["prompt_tokens"] == 1205 and usage["total_tokens"] == 1207
        assert usage["prompt_tokens_details"] == {"cached_tokens": 1000, "cache_write_tokens": 200}


@pytest.mark.parametrize("stream", [False, True])
async def test_json_schema(fake: FakeAnthropic, stream: bool) -> None:
    fake.script = [Reply.tool_calls(("farebox_json_output", {"name": "Ada", "age": 36}))]
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    result = await call(
        provider_for(fake),
        {
            "messages": [USER],
            "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
        },
        stream=stream,
    )
    content = content_of(result) if stream else result["choices"][0]["message"]["content"]
    finish = (result[-2] if stream else result)["choices"][0]["finish_reason"]
    assert json.loads(content) == {"name": "Ada", "age": 36} and finish == "stop"
    assert fake.requests[-1].body["tool_choice"] == {"type": "tool", "name": "farebox_json_output"}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply.failure(529, "overloaded_error", "Overloaded"), (503, "model_unavailable", True, None)),
        (
            Reply.failure(429, "rate_limit_error", "Slow down", headers={"retry-after": "7"}),
            (429, "rate_limited", True, 7.0),
        ),
        (
            Reply.failure(400, "invalid_request_error", "max_tokens: too large"),
            (400, "invalid_request_error", False, None),
        ),
        (Reply.failure(500, "api_error", "Internal server error"), (503, "model_unavailable", True, None)),
    ],
)
async def test_error_statuses(fake: FakeAnthropic, reply: Reply, expected: tuple[Any, ...]) -> None:
    fake.script = [reply]
    with pytest.raises(UpstreamError) as info:
        await call(provider_for(fake), {"messages": [USER]})
    error = info.value
    assert (error.status, error.code, error.retryable, error.retry_after) == expected


async def test_wrong_key_is_an_upstream_auth_error(fake: FakeAnthropic) -> None:
    with pytest.raises(UpstreamError) as info:
        await call(provider_for(fake, api_key="sk-ant-wrong"), {"messages": [USER]})
    assert (info.value.status, info.value.code, info.value.retryable) == (502, "upstream_auth_error", True)


async def test_error_mid_stream(fake: FakeAnthropic) -> None:
    fake.script = [Reply.text("This will not finish", fail_after=4)]
    with pytest.raises(UpstreamError) as info:
        await call(provider_for(fake), {"messages": [USER]}, stream=True)
    assert (info.value.status, info.value.retryable) == (503, True)


async def test_dropped_connection_mid_stream(fake: FakeAnthropic) -> None:
    fake.script = [Reply.text("This will be cut off", drop_after=4)]
    with pytest.raises((UpstreamError, aiohttp.ClientPayloadError)):
        await call(provider_for(fake), {"messages": [USER]}, stream=True)


async def test_latency_is_real(fake: FakeAnthropic) -> None:
    fake.script = [Reply.text("late", delay=0.5)]
    with pytest.raises(asyncio.TimeoutError):
        await call(provider_for(fake), {"messages": [USER]}, timeout=0.1)


async def test_fake_refuses_what_anthropic_refuses(fake: FakeAnthropic) -> None:
    # The checks that make the tests above meaningful: a leaked field and two user turns in a row.
    async with aiohttp.ClientSession() as session:
        url = f"{fake.base_url}/v1/messages"
        headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
        base = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
        for body in (
            {**base, "seed": 1},
            {**base, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            {**base, "thinking": {"type": "enabled", "budget_tokens": 1024}},
        ):
            async with session.post(url, json=body, headers=headers) as response:
                assert response.status == 400
                assert (await response.json())["error"]["type"] == "invalid_request_error"
