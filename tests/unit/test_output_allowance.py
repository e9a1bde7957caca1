"""Property: for every provider kind and preset, the output allowance the hold is sized from is at
least what the upstream request actually built lets the upstream bill (the one limit field sent x
the choices it generates, thinking included), over many combinations of max_tokens,
max_completion_tokens, n, reasoning_effort, Anthropic thinking, tools and the model's max_output.
(hypothesis is not installed: itertools.product over the limit fields, seeded random for the rest.)"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from typing import Any

import pytest

from farebox.config import ConfigError, ModelConfig, Price, ProviderConfig, parse_config
from farebox.providers import allowance
from farebox.providers.anthropic import AnthropicProvider
from farebox.providers.base import LIMIT_FIELDS, Target, UpstreamError
from farebox.providers.gemini import GeminiProvider, model_resource
from farebox.providers.noop import NoopTransport
from farebox.providers.openai_compat import OpenAICompatProvider
from farebox.providers.presets import PRESETS

LIMITS = [None, 1, 7, 1000, 1024, 1025, 4096, 8192, 100_000]
CHOICES = [None, 1, 2, 8]
EFFORTS = [None, "none", "minimal", "low", "medium", "high", "xhigh"]
THINKING = [None, {"type": "enabled", "budget_tokens": 1024}, {"type": "enabled", "budget_tokens": 5000},
            {"type": "enabled", "budget_tokens": 200_000}, {"type": "enabled"}, {"type": "adaptive"},
            {"type": "disabled"}]
MAX_OUTPUTS = [1000, 1024, 1025, 1500, 4096, 64_000]
USER = {"role": "user", "content": "Hi"}
CALL = {"id": "c1", "type": "function", "function": {"name": "now", "arguments": "{}"}}
TOOLS = [{"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]
CONVERSATIONS: list[dict[str, Any]] = [
    {"messages": [USER]},
    {"messages": [USER], "tools": TOOLS, "tool_choice": "required"},
    {"messages": [USER], "tools": TOOLS, "tool_choice": "auto"},
    {"messages": [USER, {"role": "assistant", "content": None, "tool_calls": [CALL]},
                  {"role": "tool", "tool_call_id": "c1", "content": "noon"}], "tools": TOOLS},
    {"messages": [USER], "response_format": {"type": "json_object"}},
]


def _openai(preset: str, **extra: Any) -> OpenAICompatProvider:
    return OpenAICompatProvider("up", ProviderConfig(kind="openai", base_url="http://10.0.0.5/v1", preset=preset,
                                                     **extra))


ADAPTERS: dict[str, tuple[Any, list[str]]] = {
    **{f"openai-{name}": (_openai(name), ["upstream-model"]) for name in PRESETS},
    "openai-vllm-dropping-limits-and-n": (_openai("vllm", drop_params=["max_tokens", "n", "max_completion_tokens"]),
                                          ["upstream-model"]),
    "anthropic": (AnthropicProvider("anthropic", ProviderConfig(kind="anthropic", api_key="k")),
                  ["claude-sonnet-4-5-20250929", "claude-opus-4-7", "claude-3-7-sonnet-latest"]),
    "anthropic-dropping-max-tokens": (
        AnthropicProvider("anthropic", ProviderConfig(kind="anthropic", api_key="k", drop_params=["max_tokens"])),
        ["claude-sonnet-4-5-20250929"]),
    "gemini": (GeminiProvider("google", ProviderConfig(kind="gemini", api_key="k")), ["gemini-2.5-flash"]),
    "gemini-dropping-n": (GeminiProvider("google", ProviderConfig(kind="gemini", api_key="k", drop_params=["n"])),
                          ["gemini-2.5-pro"]),
    "noop": (OpenAICompatProvider("noop", ProviderConfig(kind="noop")), ["noop-test"]),
}


def _body(rng: random.Random, max_tokens: int | None, max_completion_tokens: int | None,
          n: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "client-model", **rng.choice(CONVERSATIONS)}
    for name, value in (("max_tokens", max_tokens), ("max_completion_tokens", max_completion_tokens), ("n", n),
                        ("reasoning_effort", rng.choice(EFFORTS)), ("thinking", rng.choice(THINKING))):
        if value is not None:
            body[name] = value
    return body


def _allowed(adapter: Any, body: dict[str, Any], target: Target) -> int | None:
    """What the request built lets the upstream bill, read from the request itself (None: refused)."""
    try:
        request = adapter.build_request(body, target, stream=False)
    except UpstreamError as exc:  # Anthropic refuses n > 1 (admission refuses it first)
        assert exc.param == "n" and body.get("n", 1) > 1
        return None
    sent = json.loads(request.body)
    max_output = target.model_config.max_output
    if isinstance(adapter, OpenAICompatProvider):
        fields = [f for f in LIMIT_FIELDS if f in sent]
        assert len(fields) == 1, fields  # exactly one limit goes upstream
        limit = sent[fields[0]]
        allowed = limit * sent.get("n", 1)
    elif isinstance(adapter, AnthropicProvider):
        limit = allowed = sent["max_tokens"]
        thinking = sent.get("thinking") or {}
        if thinking.get("type") == "enabled":
            assert 1024 <= thinking["budget_tokens"] < limit
    else:
        config = sent["generationConfig"]
        limit = config["maxOutputTokens"]
        allowed = limit * config.get("candidateCount", 1)
        assert config.get("thinkingConfig", {}).get("thinkingBudget", 0) <= limit
    assert 1 <= limit <= max_output
    assert request.allowance == allowed  # the request reports what it allows
    if adapter.config.kind == "noop":  # in process: what it answers is within what it was allowed
        reply = adapter.parse_response(asyncio.run(_noop_answer(adapter.config, request)), target)
        assert len(reply["choices"]) == 1 and reply["usage"]["completion_tokens"] <= allowed
    return int(allowed)


async def _noop_answer(config: ProviderConfig, request: Any) -> bytes:
    return await (await NoopTransport(config).send(request, whole=True)).read()


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_allowance_covers_what_the_built_request_allows(name: str) -> None:
    adapter, models = ADAPTERS[name]
    rng = random.Random(f"allowance-{name}")
    cases = [(*combo, rng.choice(MAX_OUTPUTS)) for combo in itertools.product(LIMITS, LIMITS, CHOICES)]
    cases += [(rng.choice(LIMITS), rng.choice(LIMITS), rng.choice(CHOICES), rng.choice(MAX_OUTPUTS))
              for _ in range(300)]
    refused = 0
    for max_tokens, max_completion_tokens, n, max_output in cases:
        body = _body(rng, max_tokens, max_completion_tokens, n)
        model = ModelConfig(tier="pro", max_output=max_output, price=Price(input=1, output=2))
        target = Target("m", "up", adapter.config, rng.choice(models), model)
        held = adapter.output_allowance(body, target)
        assert held == allowance.output_allowance(body, target)  # the config-only path reserve uses
        allowed = _allowed(adapter, body, target)
        if allowed is None:
            refused += 1
            continue
        assert held >= allowed, (body, max_output, held, allowed)
        requested = [v for v in (max_tokens, max_completion_tokens) if v is not None]
        if not set(LIMIT_FIELDS) & set(adapter.config.drop_params):  # the larger field is honoured
            assert held >= min(max(requested or [max_output]), max_output)
    assert refused == 0 or "n" not in adapter.supported_features


def test_n_support_follows_the_upstream() -> None:
    multi = {name for name, (adapter, _) in ADAPTERS.items() if "n" in adapter.supported_features}
    assert multi == {"openai-openai", "openai-vllm", "openai-mistral", "gemini"}
    target = Target("m", "up", ADAPTERS["gemini-dropping-n"][0].config, "gemini-2.5-pro",
                    ModelConfig(tier="pro", max_output=100, price=Price(input=1, output=2)))
    assert ADAPTERS["gemini-dropping-n"][0].output_allowance({"messages": [USER], "n": 4}, target) == 100


def test_the_larger_limit_field_wins_and_the_model_max_output_is_sent_when_none_is() -> None:
    adapter = _openai("deepseek")
    target = Target("m", "up", adapter.config, "deepseek-chat",
                    ModelConfig(tier="pro", max_output=8192, price=Price(input=1, output=2)))
    body = {"messages": [USER], "max_completion_tokens": 1, "max_tokens": 8192}  # the demo
    sent = json.loads(adapter.build_request(body, target, stream=False).body)
    assert sent["max_tokens"] == 8192 and "max_completion_tokens" not in sent
    assert adapter.output_allowance(body, target) == 8192
    bare = json.loads(adapter.build_request({"messages": [USER]}, target, stream=True).body)
    assert bare["max_tokens"] == 8192


@pytest.mark.parametrize(("name", "resource"), [
    ("gemini-2.5-pro", "models/gemini-2.5-pro"),
    ("models/gemini-2.5-pro", "models/gemini-2.5-pro"),
    ("tunedModels/my-model", "tunedModels/my-model"),
    ("x/../../v1beta/models/gemini-2.5-pro:countTokens?",
     "models/x%2F..%2F..%2Fv1beta%2Fmodels%2Fgemini-2.5-pro%3AcountTokens%3F"),
    ("gemini-2.5-pro:countTokens", "models/gemini-2.5-pro%3AcountTokens"),
    ("tunedModels/a/b", "models/tunedModels%2Fa%2Fb"),
])
def test_gemini_model_names_are_one_encoded_path_segment(name: str, resource: str) -> None:
    assert model_resource(name) == resource


def test_tier_max_n_defaults_to_8_and_must_be_positive() -> None:
    tiers = "tiers: {t: {rank: 1, rpm: 10%s}}\nproviders: {}\nmodels: {}\n"
    assert parse_config(tiers % "", "f.yaml").tiers["t"].max_n == 8
    assert parse_config(tiers % ", max_n: 2", "f.yaml").tiers["t"].max_n == 2
    with pytest.raises(ConfigError, match="max_n"):
        parse_config(tiers % ", max_n: 0", "f.yaml")
