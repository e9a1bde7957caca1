"""smart-route through the gateway: the official openai SDK, a fake upstream, and the ten-model
catalogue. Checks the model the client sees, usage.model_used, the x-farebox-model-used header,
the ledger's model_used, and the upstream model name actually called."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai.types.chat import (
    ChatCompletionContentPartImageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
)

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.spec import assert_sse_valid, assert_valid
from tests.support import http
from tests.support.catalogue import catalogue_yaml
from tests.support.gateway import Gateway
from tests.support.sdk import user

TOOL: ChatCompletionFunctionToolParam = {
    "type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
IMAGE: ChatCompletionContentPartImageParam = {
    "type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
# ~200k characters of English: some 40-50k tokens by any tokenizer, beyond 32k, within 64k.
LONG_TEXT = "The quick brown fox jumps over the lazy dog while the band plays on. " * 3000


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(catalogue_yaml(fake_openai.base_url))


def text(content: str) -> list[ChatCompletionMessageParam]:
    return [user(content)]


# (tier, extra request fields, the model smart-route must pick)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("starter", {}, "tiny-8b"),
    ("starter", {"tools": [TOOL]}, "coder-32b"),
    ("pro", {"tools": [TOOL], "tool_choice": "required"}, "fast-a"),
    ("starter", {"messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, IMAGE]}]},
     "vision-lite"),
    ("pro", {"tools": [TOOL], "messages": [{"role": "user", "content": [{"type": "text", "text": "?"}, IMAGE]}]},
     "long-ctx"),
    ("starter", {"messages": text(LONG_TEXT)}, "mid-chat"),
    ("elite", {}, "reasoner"),
    ("pro", {"reasoning_effort": "high", "max_tokens": 4000}, "reasoner"),
]


@pytest.mark.parametrize(("tier", "fields", "expected"), CASES)
def test_smart_route_picks_and_reports_the_model(gateway: Gateway, fake_openai: FakeOpenAI, tier: str,
                                                 fields: dict[str, Any], expected: str) -> None:
    key = gateway.account(f"acct-{tier}", tier)
    fake_openai.default = Script(text="ok", prompt_tokens=100, completion_tokens=5, omit_nulls=True)
    request: dict[str, Any] = {"model": "smart-route", "messages": text("hello")} | fields
    raw = gateway.client(key).chat.completions.with_raw_response.create(**request)
    resp = raw.parse()
    assert resp.model == "smart-route"
    assert resp.usage is not None and resp.usage.model_extra is not None
    assert resp.usage.model_extra["model_used"] == expected
    assert raw.headers["x-farebox-model-used"] == expected
    assert fake_openai.requests[-1]["model"] == f"up-{expected}"
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    charges = [r for r in gateway.ledger(f"acct-{tier}") if r["kind"] == "charge"]
    assert [c["model_used"] for c in charges] == [expected]


def test_streaming_smart_route_names_the_model(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("streamer", "starter")
    fake_openai.default = Script(text="one two", prompt_tokens=20, completion_tokens=2, omit_nulls=True)
    reply = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body={"model": "smart-route", "messages": text("hi"), "tools": [TOOL], "stream": True,
                                 "stream_options": {"include_usage": True}})
    assert reply.status_code == 200 and reply.headers["x-farebox-model-used"] == "coder-32b"
    assert_sse_valid(reply.text)
    chunks = [json.loads(line[6:]) for line in reply.text.splitlines()
              if line.startswith("data: {")]
    assert {c["model"] for c in chunks} == {"smart-route"}
    assert chunks[-1]["usage"]["model_used"] == "coder-32b"
    assert fake_openai.requests[-1]["model"] == "up-coder-32b"


def test_a_down_model_is_skipped(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("skipper", "starter")
    health = gateway.runtime.health

    async def open_circuit() -> None:
        for _ in range(health.policy.consecutive_failures):
            health.record_failure("up/up-tiny-8b")

    gateway.run(open_circuit())
    raw = gateway.client(key).chat.completions.with_raw_response.create(model="smart-route", messages=text("hi"))
    assert raw.headers["x-farebox-model-used"] == "vision-lite"
    assert [r["model"] for r in fake_openai.requests] == ["up-vision-lite"]


def test_smart_route_fails_over_to_the_next_cheapest(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("failover", "starter")
    fake_openai.push(Script(status=503))
    raw = gateway.client(key).chat.completions.with_raw_response.create(model="smart-route", messages=text("hi"))
    assert raw.headers["x-farebox-model-used"] == "vision-lite"
    assert [r["model"] for r in fake_openai.requests] == ["up-tiny-8b", "up-vision-lite"]


@pytest.mark.parametrize(("tier", "fields", "code", "words"), [
    ("starter", {"reasoning_effort": "high"}, "unsupported_feature", "supports reasoning"),
    ("starter", {"tools": [TOOL], "messages": [{"role": "user", "content": [IMAGE]}]}, "no_capable_model",
     "vision-lite: lacks tools"),
    ("starter", {"messages": text(LONG_TEXT * 4)}, "context_length_exceeded", "exceeds every model's context"),
])
def test_no_capable_model_is_a_precise_400(gateway: Gateway, fake_openai: FakeOpenAI, tier: str,
                                           fields: dict[str, Any], code: str, words: str) -> None:
    key = gateway.account("picky", tier)
    request: dict[str, Any] = {"model": "smart-route", "messages": text("hello")} | fields
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client(key).chat.completions.create(**request)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == code and words in error["message"]
    assert fake_openai.requests == []
    assert [r for r in gateway.ledger("picky") if r["kind"] == "charge"] == []


def test_a_starter_key_never_reaches_a_pro_model(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("small", "starter")
    client = gateway.client(key)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="fast-a", messages=text("hi"))
    fields: dict[str, Any]
    for fields in ({}, {"tools": [TOOL]}, {"messages": text(LONG_TEXT)}):
        client.chat.completions.create(**({"model": "smart-route", "messages": text("hi")} | fields))
    assert {r["model"] for r in fake_openai.requests} <= {"up-tiny-8b", "up-coder-32b", "up-vision-lite",
                                                           "up-mid-chat"}
