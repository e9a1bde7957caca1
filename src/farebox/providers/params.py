"""Which request fields reach an upstream: an allow-list per provider kind (and, for the
OpenAI-compatible family, per preset). Anything else is dropped before the upstream sees it and
named in the `x-farebox-dropped-params` response header.

Why an allow-list: a field farebox does not price can change what the upstream bills (OpenRouter's
`models` fallbacks and `plugins`, OpenAI's `service_tier: priority`, audio output...), and the
customer would get it for the price of plain tokens. A model opts in to more with `allow_params`
in its config; a field in farebox.billable_params.PRICE_CHANGING only with a price rule (checked at load).

This module imports nothing of farebox's at run time but the presets, so `config.py` can use it.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from farebox.providers.presets import Preset, preset_named, preset_of

if TYPE_CHECKING:
    from farebox.config import ModelConfig, ProviderConfig
    from farebox.providers.base import Target

log = logging.getLogger("farebox.params")

# The OpenAI chat fields farebox understands and prices (holds cover them; none of them makes
# the upstream bill anything but the tokens that the usage reports).
CHAT_FIELDS = frozenset({
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "max_tokens",
    "max_completion_tokens", "stop", "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format",
    "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias", "reasoning_effort",
    "user", "safety_identifier", "prompt_cache_key", "store", "metadata", "verbosity",
})
# Handled by farebox itself whatever the upstream (the model is replaced, streams always ask for
# usage): never reported as dropped.
GATEWAY_FIELDS = frozenset({"model", "stream", "stream_options"})

# What the native adapters translate (providers/anthropic/request.py + thinking.py,
# providers/gemini/request.py); every other field is ignored by them, so it counts as dropped.
# tests/unit/test_params.py checks these against the adapters' real output.
ANTHROPIC_FIELDS = frozenset({
    "model", "messages", "stream", "stream_options", "n", "max_tokens", "max_completion_tokens", "stop", "user",
    "safety_identifier", "tools", "tool_choice", "response_format", "parallel_tool_calls", "temperature", "top_p",
    "top_k", "reasoning_effort", "thinking",
})
GEMINI_FIELDS = frozenset({
    "model", "messages", "stream", "stream_options", "n", "max_tokens", "max_completion_tokens", "stop", "tools",
    "tool_choice", "response_format", "temperature", "top_p", "top_k", "seed", "presence_penalty",
    "frequency_penalty", "logprobs", "top_logprobs", "reasoning_effort",
})
NATIVE_FIELDS = {"anthropic": ANTHROPIC_FIELDS, "gemini": GEMINI_FIELDS}


# The features a model can have (config's `features:`, plus `n`: several choices, which the
# catalogue derives from the adapters) and the request field that asks for each: the one named
# in a 400 when a model lacks it (routing/needs.py param_for).
FEATURE_PARAM: dict[str, str] = {
    "tools": "tools", "tool_choice": "tool_choice", "json_object": "response_format",
    "json_schema": "response_format", "logprobs": "logprobs", "reasoning": "reasoning_effort",
    "vision": "messages", "prompt_cache": "prompt_cache_key", "n": "n",
}
# What the adapters translate, from that one vocabulary (providers/*: supported_features).
ALL_FEATURES = frozenset(FEATURE_PARAM) - {"n"}  # every configurable feature


def openai_fields(preset: Preset, provider_drops: tuple[str, ...], model_allows: tuple[str, ...]) -> frozenset[str]:
    """The fields an OpenAI-compatible deployment receives (by their client names)."""
    return _openai_fields(preset.name, provider_drops, model_allows)


# Presets whose upstream generates (and bills) `n` choices. The others give one or refuse n > 1,
# so `n` is not sent there (and a request for more is refused at admission).
MULTI_CHOICE_PRESETS = frozenset({"openai", "vllm", "mistral"})


@lru_cache(maxsize=1024)
def _openai_fields(preset_name: str, provider_drops: tuple[str, ...], model_allows: tuple[str, ...]) -> frozenset[str]:
    preset = preset_named(preset_name)
    drops = preset.drop_params | frozenset(provider_drops)
    fields = (CHAT_FIELDS | preset.extras | frozenset(model_allows)) - drops
    if preset_name not in MULTI_CHOICE_PRESETS:
        fields -= {"n"}
    if preset.allow_params is not None:  # a strict upstream: only its own fields, after renaming
        strict = preset.allow_params - drops
        fields = frozenset(f for f in fields if f in strict or preset.rename_params.get(f) in strict)
    return fields | GATEWAY_FIELDS


def filter_params(body: dict[str, Any], preset: Preset, provider: ProviderConfig,
                  model: ModelConfig) -> tuple[dict[str, Any], list[str]]:
    """The body an OpenAI-compatible upstream may receive, and the fields left out (sorted)."""
    fields = openai_fields(preset, tuple(provider.drop_params), tuple(model.allow_params))
    out = {k: v for k, v in body.items() if k in fields}
    return out, sorted(k for k in body if k not in fields)


def accepted_fields(target: Target) -> frozenset[str]:
    """Every request field the target's adapter sends upstream in some form."""
    provider = target.provider
    if provider.kind in ("openai", "noop"):  # noop: the OpenAI-compatible adapter, in process
        preset = preset_of(provider)
        return openai_fields(preset, tuple(provider.drop_params), tuple(target.model_config.allow_params))
    return NATIVE_FIELDS.get(provider.kind, CHAT_FIELDS) - frozenset(provider.drop_params)


def dropped_params(body: dict[str, Any], target: Target) -> list[str]:
    """The request's fields that did not reach `target` in any form, sorted (for the header)."""
    fields = accepted_fields(target)
    return sorted(k for k in body if k not in fields)


def note_answering_model(target: Target, answered: Any) -> None:
    """Warn when an OpenAI-compatible upstream says another model answered than the one priced
    (OpenRouter may route elsewhere). A dated variant of the name (gpt-4o -> gpt-4o-2024-08-06)
    is the same model. The bill is safe either way: an upstream's `usage.cost` is charged when it
    is higher than the price (billing/pricing.py)."""
    asked = target.upstream_model
    if target.provider.kind != "openai" or not isinstance(answered, str) or not answered \
            or answered == asked or answered.startswith(asked + "-"):
        return
    log.warning("upstream %s answered a request for %s with model %s; priced as farebox model %s",
                target.provider_name, asked, answered, target.model_id)
