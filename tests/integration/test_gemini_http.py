"""The adapter against the fake Gemini over real HTTP on 127.0.0.1 (build_request -> POST -> parse)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from farebox.protocol.sse import iter_sse
from farebox.providers.base import UpstreamError
from farebox.providers.gemini import GeminiProvider
from tests.fakes.gemini_upstream import FakeGemini, Reply, start_fake_gemini
from tests.spec import validate
from tests.support.gemini_adapter import provider, target

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
async def fake() -> AsyncIterator[tuple[GeminiProvider, FakeGemini, aiohttp.ClientSession]]:
    base_url, server = await start_fake_gemini()
    async with aiohttp.ClientSession() as session:
        yield provider(base_url), server, session
    await server.close()


async def complete(p: GeminiProvider, session: aiohttp.ClientSession, body: dict[str, Any]) -> dict[str, Any]:
    req = p.build_request(body, target(p), stream=False)
    async with session.post(req.url, headers=req.headers, data=req.body) as resp:
        raw = await resp.read()
        if resp.status != 200:
            raise p.map_error(resp.status, raw, dict(resp.headers))
        doc = p.parse_response(raw, target(p))
    assert validate(doc, "CreateChatCompletionResponse") == []
    return doc


async def stream(
    p: GeminiProvider, session: aiohttp.ClientSession, body: dict[str, Any]
) -> list[dict[str, Any]]:
    req = p.build_request(body, target(p), stream=True)
    chunks = []
    async with session.post(req.url, headers=req.headers, data=req.body) as resp:
        if resp.status != 200:
            raise p.map_error(resp.status, await resp.read(), dict(resp.headers))
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        async for chunk in p.parse_stream(iter_sse(resp.content), target(p)):
            assert validate(chunk, "CreateChatCompletionStreamResponse") == []
            chunks.append(chunk)
    return chunks


async def test_plain_reply_and_recorded_request(fake: Any) -> None:
    p, server, session = fake
    server.push(Reply(text="Bonjour !", prompt_tokens=7))
    doc = await complete(
        p,
        session,
        {
            "messages": [{"role": "system", "content": "French."}, {"role": "user", "content": "Hello"}],
            "user": "u1",
        },
    )
    assert doc["choices"][0]["message"]["content"] == "Bonjour !"
    assert doc["usage"]["prompt_tokens"] == 7 and doc["usage"]["completion_tokens"] == 2
    sent = server.requests[0]
    assert (sent.model, sent.method, sent.query) == ("gemini-2.5-flash", "generateContent", {})
    assert sent.headers["x-goog-api-key"] == p.config.api_key
    assert sent.json["systemInstruction"] == {"parts": [{"text": "French."}]}
    assert sent.json["contents"] == [{"role": "user", "parts": [{"text": "Hello"}]}]


async def test_tool_calls_then_tool_results(fake: Any) -> None:
    p, server, session = fake
    server.push(
        Reply(
            text="",
            tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})],
            signature="c2lnbmF0dXJl",
        ),
        Reply(text="Sunny in both."),
    )
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [WEATHER],
        "tool_choice": "required",
    }
    doc = await complete(p, session, body)
    message = doc["choices"][0]["message"]
    assert doc["choices"][0]["finish_reason"] == "tool_calls"
    assert len(message["tool_calls"]) == 2
    # the client sends the assistant turn back as the SDK gives it, plus one result per call
    body["messages"] += [message] + [
        {"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"sky": "clear"})}
        for call in message["tool_calls"]
    ]
    doc = await complete(p, session, body)
    assert doc["choices"][0]["message"]["content"] == "Sunny in both."
    replay = server.requests[1].json["contents"]
    assert replay[1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"  # the signature came back
    assert [part["functionResponse"]["name"] for part in replay[2]["parts"]] == ["get_weather", "get_weather"]
    assert server.requests[0].json["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


async def test_thinking_and_cached_usage(fake: Any) -> None:
    p, server, session = fake
    server.push(Reply(text="391", thoughts="17 times 23 is 391", prompt_tokens=3000, cached_tokens=2048))
    doc = await complete(
        p, session, {"messages": [{"role": "user", "content": "17*23"}], "reasoning_effort": "low"}
    )
    assert doc["choices"][0]["message"]["reasoning_content"] == "17 times 23 is 391"
    assert doc["usage"]["prompt_tokens_details"]["cached_tokens"] == 2048
    assert doc["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5
    assert server.requests[0].json["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 1024,
        "includeThoughts": True,
    }


async def test_streaming_text_and_tools(fake: Any) -> None:
    p, server, session = fake
    server.push(
        Reply(text="one two three four five", thoughts="hmm", chunk_words=2),
        Reply(text="", tool_calls=[("get_weather", {"city": "Oslo"})]),
    )
    chunks = await stream(p, session, {"messages": [{"role": "user", "content": "Count"}]})
    assert server.requests[0].method == "streamGenerateContent" and server.requests[0].query == {"alt": "sse"}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "one two three four five"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "reasoning_content": "hmm"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5 + 1

    chunks = await stream(
        p, session, {"messages": [{"role": "user", "content": "Oslo?"}], "tools": [WEATHER]}
    )
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(tc["index"], tc["function"]["name"], tc["function"]["arguments"]) for tc in calls] == [
        (0, "get_weather", '{"city":"Oslo"}')
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_error_status_and_error_mid_stream(fake: Any) -> None:
    p, server, session = fake
    quota = {
        "code": 429,
        "message": "Resource exhausted.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
    }
    server.push(Reply(status=429, error=quota))
    with pytest.raises(UpstreamError) as info:
        await complete(p, session, {"messages": [{"role": "user", "content": "x"}]})
    assert (info.value.status, info.value.retryable, info.value.retry_after) == (429, True, 7.0)

    server.push(
        Reply(text="a b c d", stream_error={"code": 500, "message": "Internal error", "status": "INTERNAL"})
    )
    with pytest.raises(UpstreamError) as info:
        await stream(p, session, {"messages": [{"role": "user", "content": "x"}]})
    assert (info.value.status, info.value.code) == (503, "model_unavailable")


async def test_wrong_key_and_rejected_payload(fake: Any) -> None:
    p, server, session = fake
    bad = GeminiProvider(
        "google", p.config.__class__(kind="gemini", base_url=p.config.base_url, api_key="nope")
    )
    with pytest.raises(UpstreamError) as info:
        await complete(bad, session, {"messages": [{"role": "user", "content": "x"}]})
    assert (info.value.status, info.value.code, info.value.retryable) == (502, "upstream_auth_error", True)
    # the fake rejects what Gemini rejects: an empty conversation is a client error
    with pytest.raises(UpstreamError) as info:
        await complete(p, session, {"messages": []})
    assert (info.value.status, info.value.retryable) == (400, False)


async def test_json_schema_passes_the_upstream_checks(fake: Any) -> None:
    p, server, session = fake
    server.push(Reply(text='{"answer": 4}'))
    schema = {
        "type": "object",
        "additionalProperties": False,
        "$defs": {"N": {"type": "integer"}},
        "properties": {"answer": {"$ref": "#/$defs/N"}},
        "required": ["answer"],
    }
    doc = await complete(
        p,
        session,
        {
            "messages": [{"role": "user", "content": "2+2"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "a", "strict": True, "schema": schema},
            },
        },
    )
    assert json.loads(doc["choices"][0]["message"]["content"]) == {"answer": 4}
    assert server.requests[0].json["generationConfig"]["responseSchema"]["properties"] == {
        "answer": {"type": "integer"}
    }


async def test_latency_is_honoured(fake: Any) -> None:
    p, server, session = fake
    server.push(Reply(text="slow", latency=0.2))
    started = time.monotonic()
    await complete(p, session, {"messages": [{"role": "user", "content": "x"}]})
    assert time.monotonic() - started >= 0.2
