"""The parameter allow-list: what each provider kind and preset lets through, checked against the
adapters' real upstream bodies; price-changing fields dropped by default; allow_params."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from farebox.billable_params import PRICE_CHANGING
from farebox.config import ConfigError, ModelConfig, Price, ProviderConfig, parse_config
from farebox.providers.base import Target, UpstreamError
from farebox.providers.params import (
    CHAT_FIELDS,
    GATEWAY_FIELDS,
    accepted_fields,
    dropped_params,
    filter_params,
    note_answering_model,
)
from farebox.providers.presets import PRESETS
from farebox.providers.registry import ADAPTERS

USER = {"role": "user", "content": "Hi"}
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
    "a": {"type": "string"}}}}}]
# field -> (a value that has an effect, other fields it needs to have one)
CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "temperature": (0.5, {}), "top_p": (0.5, {}), "n": (2, {}), "max_tokens": (77, {}),
    "max_completion_tokens": (77, {}), "stop": (["x"], {}), "seed": (3, {}), "tools": (TOOLS, {}),
    "tool_choice": ("required", {"tools": TOOLS}), "parallel_tool_calls": (False, {"tools": TOOLS}),
    "response_format": ({"type": "json_object"}, {}), "logprobs": (True, {}),
    "top_logprobs": (3, {"logprobs": True}), "presence_penalty": (0.5, {}), "frequency_penalty": (0.5, {}),
    "logit_bias": ({"1": 1}, {}), "reasoning_effort": ("high", {}), "user": ("u", {}),
    "safety_identifier": ("s", {}), "prompt_cache_key": ("k", {}), "store": (True, {}),
    "metadata": ({"a": "b"}, {}), "verbosity": ("low", {}), "top_k": (5, {}), "min_p": (0.1, {}),
    "repetition_penalty": (1.1, {}), "chat_template_kwargs": ({"enable_thinking": False}, {}),
    "thinking": ({"type": "enabled", "budget_tokens": 2048}, {}), "random_seed": (3, {}),
    "prompt_mode": ("reasoning", {}), "safe_prompt": (True, {}), "reasoning": ({"effort": "high"}, {}),
    "x_unknown_field": (1, {}),
    # the price-changing ones
    "models": (["openai/gpt-4o"], {}), "provider": ({"sort": "throughput"}, {}), "route": ("fallback", {}),
    "transforms": (["middle-out"], {}), "plugins": ([{"id": "web"}], {}), "service_tier": ("priority", {}),
    "audio": ({"voice": "alloy", "format": "wav"}, {}), "modalities": (["text", "audio"], {}),
    "prediction": ({"type": "content", "content": "x"}, {}), "web_search_options": ({}, {}),
    "cache_control": ({"type": "ephemeral"}, {}),
}
assert set(PRICE_CHANGING) <= set(CASES) and CHAT_FIELDS - GATEWAY_FIELDS - {"messages"} <= set(CASES)

KINDS = [("openai", preset) for preset in PRESETS] + [("anthropic", None), ("gemini", None)]


def target(kind: str, preset: str | None = None, *, allow: list[str] | None = None,
           drop: list[str] | None = None) -> tuple[Any, Target]:
    base_url = "http://127.0.0.1:9/v1" if kind == "openai" else None
    config = ProviderConfig(kind=kind, base_url=base_url, preset=preset, api_key="k",  # type: ignore[arg-type]
                            drop_params=drop or [])
    model = ModelConfig(tier="pro", price=Price(input=1, output=2), max_output=4096, allow_params=allow or [])
    return ADAPTERS[kind]("up", config), Target("m", "up", config, "claude-sonnet-4-5", model)


def sent(adapter: Any, tgt: Target, body: dict[str, Any]) -> Any:
    """What the upstream would receive (a 400 raised for a field counts as the field being used)."""
    try:
        return json.loads(adapter.build_request(body, tgt, stream=False).body)
    except UpstreamError as exc:
        return ("refused", exc.param)


@pytest.mark.parametrize(("kind", "preset"), KINDS)
def test_a_field_is_accepted_exactly_when_it_changes_the_upstream_body(kind: str, preset: str | None) -> None:
    """The tables in params.py match what every adapter really does with each field."""
    adapter, tgt = target(kind, preset)
    accepted = accepted_fields(tgt)
    for field, (value, context) in CASES.items():
        base = {"model": "m", "messages": [USER], **context}
        changed = sent(adapter, tgt, {**base, field: value}) != sent(adapter, tgt, base)
        assert changed == (field in accepted), (kind, preset, field)


def test_each_preset_and_kind_has_its_allow_list() -> None:
    """The priced chat fields, less what each upstream rejects, plus its vetted extras."""
    sampling = {"top_k", "min_p", "repetition_penalty"}
    openai_only = {"metadata", "prompt_cache_key", "safety_identifier", "store", "verbosity"}
    expected = {
        "openai": (set(), set()),
        "vllm": (set(), sampling | {"chat_template_kwargs"}),
        "llamacpp": (openai_only | {"n"}, sampling),
        "ollama": (openai_only | {"n", "logit_bias", "user"}, set()),
        "deepseek": (openai_only | {"n", "seed", "parallel_tool_calls", "logit_bias", "reasoning_effort"}, set()),
        "mistral": (openai_only | {"logit_bias", "logprobs", "top_logprobs", "user", "reasoning_effort"},
                    {"random_seed", "prompt_mode", "safe_prompt"}),
        "cerebras": (openai_only | {"n", "presence_penalty", "frequency_penalty", "logit_bias",
                                    "parallel_tool_calls"}, set()),
        "groq": (openai_only | {"logprobs", "top_logprobs", "logit_bias", "n"}, set()),
        "openrouter": ({"n"}, sampling),  # n > 1 is refused there: one choice is what it bills
    }
    assert set(expected) == set(PRESETS)
    for preset, (minus, plus) in expected.items():
        assert accepted_fields(target("openai", preset)[1]) == (CHAT_FIELDS - minus) | plus, preset
    assert accepted_fields(target("anthropic")[1]) == CHAT_FIELDS - {
        "seed", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias",
        "prompt_cache_key", "store", "metadata", "verbosity"} | {"top_k", "thinking"}
    assert accepted_fields(target("gemini")[1]) == CHAT_FIELDS - {
        "parallel_tool_calls", "logit_bias", "user", "safety_identifier", "prompt_cache_key", "store", "metadata",
        "verbosity"} | {"top_k"}


@pytest.mark.parametrize(("kind", "preset"), KINDS)
def test_price_changing_and_unknown_fields_are_dropped_and_named(kind: str, preset: str | None) -> None:
    adapter, tgt = target(kind, preset)
    extras = {field: CASES[field][0] for field in PRICE_CHANGING} | {"x_unknown_field": 1}
    body = {"model": "m", "messages": [USER], "temperature": 0.5, **extras}
    assert dropped_params(body, tgt) == sorted(extras)
    upstream = json.dumps(sent(adapter, tgt, body))
    assert all(f'"{field}"' not in upstream for field in extras if field != "metadata")
    if kind == "openai":
        out, dropped = filter_params(body, PRESETS[preset or "vllm"], tgt.provider, tgt.model_config)
        assert set(out) == {"model", "messages", "temperature"} and dropped == sorted(extras)


def test_allow_params_opens_a_field_for_one_model_but_not_past_a_strict_upstream() -> None:
    adapter, tgt = target("openai", "openrouter", allow=["reasoning", "cache_control", "x_unknown_field"])
    body = {"model": "m", "messages": [USER], "reasoning": {"effort": "high"}, "x_unknown_field": 1,
            "cache_control": {"type": "ephemeral"}, "plugins": [{"id": "web"}]}
    upstream = sent(adapter, tgt, body)
    assert upstream["reasoning"] == {"effort": "high"} and upstream["x_unknown_field"] == 1
    assert upstream["cache_control"] == {"type": "ephemeral"} and "plugins" not in upstream
    assert dropped_params(body, tgt) == ["plugins"]
    # Mistral answers 422 to any field not its own: allow_params cannot open one there.
    mistral, mtgt = target("openai", "mistral", allow=["x_unknown_field"])
    assert "x_unknown_field" not in sent(mistral, mtgt, body)
    assert "x_unknown_field" in dropped_params(body, mtgt)
    # A provider's drop_params wins over the model's allow_params and the allow-list.
    vllm, vtgt = target("openai", "vllm", allow=["x_unknown_field"], drop=["x_unknown_field", "seed"])
    assert dropped_params({**body, "seed": 1}, vtgt) == ["cache_control", "plugins", "reasoning", "seed",
                                                         "x_unknown_field"]
    # The native adapters translate what they know; allow_params does not apply to them.
    assert "x_unknown_field" in dropped_params(body, target("anthropic", allow=["x_unknown_field"])[1])


CONFIG = """
tiers: {pro: {rank: 1, rpm: 60}}
providers: {up: {kind: openai, base_url: "http://127.0.0.1:9/v1"}}
models:
  coder:
    tier: pro
    price: %s
    provider: up
    allow_params: [reasoning, %s]
"""


@pytest.mark.parametrize("param", sorted(set(PRICE_CHANGING) - {"cache_control"}))
def test_price_changing_allow_params_are_refused_at_load(param: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(CONFIG % ("{input: 1, output: 2, cache_write: 1.25}", param), "farebox.yaml")
    message = str(err.value)
    assert message.startswith("farebox.yaml: models.coder.allow_params[1]: ")
    assert param in message and PRICE_CHANGING[param] in message


def test_cache_control_needs_a_cache_write_price() -> None:
    with pytest.raises(ConfigError, match=r"models\.coder\.allow_params\[1\]: .*add price\.cache_write"):
        parse_config(CONFIG % ("{input: 1, output: 2}", "cache_control"), "farebox.yaml")
    config = parse_config(CONFIG % ("{input: 1, output: 2, cache_write: 1.25}", "cache_control"), "farebox.yaml")
    assert config.models["coder"].allow_params == ["reasoning", "cache_control"]
    assert parse_config(CONFIG % ("{input: 1, output: 2}", "x_vendor_flag"), "f").models["coder"].allow_params


def test_another_answering_model_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    _, tgt = target("openai", "openrouter")
    with caplog.at_level(logging.WARNING, "farebox.params"):
        note_answering_model(tgt, "claude-sonnet-4-5")  # the one asked
        note_answering_model(tgt, "claude-sonnet-4-5-20250929")  # a dated variant of it
        note_answering_model(tgt, None)
        assert caplog.records == []
        note_answering_model(tgt, "openai/gpt-4o")
    assert len(caplog.records) == 1 and "openai/gpt-4o" in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, "farebox.params"):  # native APIs answer with dated names
        note_answering_model(target("anthropic")[1], "claude-sonnet-4-5-latest-x")
    assert caplog.records == []
