"""Capabilities: the features a model has are its configured ones that its adapter can translate.
A request needing one it lacks is a 400 unsupported_feature naming it, before any upstream call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionUserMessageParam

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.gemini_upstream import API_KEY as GEMINI_KEY
from tests.fakes.native_fakes import threaded_anthropic, threaded_gemini
from tests.support.gateway import Gateway
from tests.support.sdk import user

ALL = "[tools, tool_choice, json_object, json_schema, vision, logprobs, reasoning, prompt_cache]"
CONFIG = """
providers:
  claude: {kind: anthropic, base_url: "%(anthropic)s", api_key: "%(akey)s"}
  google: {kind: gemini, base_url: "%(gemini)s", api_key: "%(gkey)s"}
  vllm:   {kind: openai, base_url: "%(openai)s"}
  groq:   {kind: openai, preset: groq, base_url: "%(openai)s"}
  noop:   {kind: noop}
models:
  claude-all:  {tier: starter, price: {input: 1, output: 1}, features: %(all)s, provider: claude}
  gemini-text: {tier: starter, price: {input: 1, output: 1}, features: [json_object], provider: google}
  vllm-plain:  {tier: starter, price: {input: 1, output: 1}, features: [], provider: vllm}
  groq-all:    {tier: starter, price: {input: 1, output: 1}, features: %(all)s, provider: groq}
  noop-all:    {tier: starter, price: {input: 1, output: 1}, features: %(all)s, provider: noop}
"""
IMAGE: ChatCompletionUserMessageParam = {"role": "user", "content": [
    {"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}
TOOLS: list[ChatCompletionFunctionToolParam] = [
    {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
USER = user("Hi")


class Upstreams:
    def __init__(self, anthropic: Any, gemini: Any, gemini_url: str, openai_fake: FakeOpenAI) -> None:
        self.anthropic, self.gemini, self.gemini_url, self.openai = anthropic, gemini, gemini_url, openai_fake

    def received(self) -> int:
        return len(self.anthropic.requests) + len(self.gemini.requests) + len(self.openai.requests)


@pytest.fixture
def upstreams(fake_openai: FakeOpenAI) -> Iterator[Upstreams]:
    with threaded_anthropic() as (_, anthropic), threaded_gemini() as (gemini_url, gemini):
        yield Upstreams(anthropic, gemini, gemini_url, fake_openai)


@pytest.fixture
def gateway(upstreams: Upstreams, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % {"anthropic": upstreams.anthropic.base_url, "akey": ANTHROPIC_KEY,
                                  "gemini": upstreams.gemini_url, "gkey": GEMINI_KEY,
                                  "openai": upstreams.openai.base_url, "all": ALL})


@pytest.mark.parametrize(("model", "kwargs", "feature", "param"), [
    ("claude-all", {"logprobs": True}, "logprobs", "logprobs"),  # configured, but Anthropic has no logprobs
    ("gemini-text", {"messages": [IMAGE]}, "vision", "messages"),
    ("gemini-text", {"tools": TOOLS}, "tools", "tools"),
    ("gemini-text", {"reasoning_effort": "high"}, "reasoning", "reasoning_effort"),
    ("vllm-plain", {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
     "json_schema", "response_format"),
    ("vllm-plain", {"tools": TOOLS, "tool_choice": "required"}, "tools", "tool_choice"),
    ("groq-all", {"top_logprobs": 2, "logprobs": True}, "logprobs", "logprobs"),  # the preset lacks it
    ("noop-all", {"messages": [IMAGE]}, "vision", "messages"),  # the noop adapter has no vision
])
def test_missing_feature_is_400_before_any_upstream_call(gateway: Gateway, upstreams: Upstreams, model: str,
                                                         kwargs: dict[str, Any], feature: str, param: str) -> None:
    client = gateway.client(gateway.account("cap"))
    request = {"model": model, "messages": [USER], **kwargs}
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(**request)
    assert err.value.code == "unsupported_feature"
    assert feature in err.value.message and err.value.param == param
    assert upstreams.received() == 0
    assert [row for row in gateway.ledger("cap") if row["kind"] == "charge"] == []


def test_features_a_model_has_go_through(gateway: Gateway, upstreams: Upstreams) -> None:
    client = gateway.client(gateway.account("ok"))
    client.chat.completions.create(model="claude-all", messages=[IMAGE], tools=TOOLS)
    client.chat.completions.create(model="gemini-text", messages=[USER], response_format={"type": "json_object"})
    assert len(upstreams.anthropic.requests) == 1 and len(upstreams.gemini.requests) == 1
