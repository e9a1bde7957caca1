"""`noop-test` is the OpenAI-compatible adapter over an in-process transport: what a client gets
from it, JSON and streamed, through the real gateway and the official SDK, is exactly what the
former special-cased NoopProvider gave (recorded from it in tests/fixtures/noop/replies.json:
text, tool calls, reasoning, logprobs, finish reasons, stream deltas), with its usage rule (the
estimator's counts of the client's prompt and of the reply, within the limit), and the
dispatcher has no noop case left: the noop provider is an OpenAICompatProvider whose requests go
through a transport."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farebox.tokens import estimate_prompt_tokens, estimate_text_tokens
from tests.support.gateway import Gateway

FIXTURE = Path(__file__).parent.parent / "fixtures" / "noop" / "replies.json"
CONFIG = """
providers: {noop: {kind: noop}}
models:
  noop-test:
    tier: starter
    context: 8192
    max_output: 64
    price: {input: 0.1, output: 0.4}
    features: [tools, json_object, json_schema, logprobs, reasoning]
    deployments: [{provider: noop, model: noop-test}]
"""
USER = {"role": "user", "content": "Hello!"}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
CASES: dict[str, dict[str, Any]] = {
    "hello": {"messages": [USER]},
    "conversation": {"messages": [{"role": "system", "content": "Be brief."}, USER,
                                  {"role": "assistant", "content": "Hi."},
                                  {"role": "user", "content": [{"type": "text", "text": "Stream a haiku"},
                                                               {"type": "text", "text": "about autumn"}]}]},
    "json": {"messages": [USER], "response_format": {"type": "json_object"}},
    "tools": {"messages": [USER], "tools": TOOLS, "tool_choice": "required"},
    "reasoning": {"messages": [USER], "reasoning_effort": "low"},
    "logprobs": {"messages": [USER], "logprobs": True},
    "truncated": {"messages": [{"role": "user", "content": "one two three four five six seven " * 8}],
                  "max_tokens": 7},
    "long": {"messages": [{"role": "user", "content": "word " * 400}]},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(CONFIG, tmp_path_factory.mktemp("noop")).start()
    yield gw
    gw.stop()


def _replies(gateway: Gateway) -> dict[str, Any]:
    client = gateway.client(gateway.account("acme", tier="starter"))
    out: dict[str, Any] = {}
    for name, body in CASES.items():
        reply = client.chat.completions.create(model="noop-test", **body)
        message = reply.choices[0].message
        usage = reply.usage.model_dump() if reply.usage else None
        out[name] = {"content": message.content, "finish": reply.choices[0].finish_reason, "usage": usage,
                     "tool_calls": [c.model_dump() for c in message.tool_calls or []],
                     "reasoning": (message.model_extra or {}).get("reasoning_content"),
                     "logprobs": reply.choices[0].logprobs.model_dump() if reply.choices[0].logprobs else None}
        chunks = list(client.chat.completions.create(model="noop-test", stream=True,
                                                     stream_options={"include_usage": True}, **body))
        deltas = [c.choices[0].delta.model_dump(exclude_none=True) for c in chunks if c.choices]
        out[name + ":stream"] = {"deltas": deltas, "finish": [c.choices[0].finish_reason for c in chunks if c.choices],
                                 "usage": chunks[-1].usage.model_dump() if chunks[-1].usage else None}
    return out


def test_replies_are_what_noop_always_answered(gateway: Gateway) -> None:
    got = json.loads(json.dumps(_replies(gateway)))
    usages = {name: reply.pop("usage") for name, reply in got.items()}
    if os.environ.get("FAREBOX_RECORD_NOOP"):  # to re-record on purpose
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    expected = json.loads(FIXTURE.read_text())
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], name
    assert got["hello"]["content"] == ("This is noop-test. You sent 1 message(s); the last one has 1 word(s) "
                                       "and reads: Hello!")  # README's reply
    for name, body in CASES.items():
        usage, reply = usages[name], got[name]
        assert usage == usages[name + ":stream"], name
        limit = min(body.get("max_tokens", 64), 64)
        reasoning = min(estimate_text_tokens(reply["reasoning"] or ""), limit)
        calls = sum(estimate_text_tokens(c["function"]["name"] + c["function"]["arguments"])
                    for c in reply["tool_calls"])
        assert usage["prompt_tokens"] == estimate_prompt_tokens({"model": "noop-test", **body}), name
        assert usage["completion_tokens"] == min(estimate_text_tokens(reply["content"]) + reasoning + calls, limit)
        assert usage["completion_tokens_details"]["reasoning_tokens"] == reasoning


def test_noop_is_the_openai_adapter_over_an_in_process_transport(gateway: Gateway) -> None:
    from farebox.providers.noop import NoopTransport  # here: the recording ran on the former code
    from farebox.providers.openai_compat import OpenAICompatProvider

    dispatcher = gateway.runtime.dispatcher
    assert isinstance(dispatcher.adapters["noop"], OpenAICompatProvider)
    assert isinstance(dispatcher.transports["noop"], NoopTransport)
