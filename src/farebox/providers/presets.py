"""Quirks of the OpenAI-compatible family, as data. Pick one with `preset:` in a provider's
config, or let the base URL's host pick it (api.deepseek.com -> deepseek, ...).

Sources: each provider's API reference / OpenAI-compatibility page (see docs/providers.md).
Request fields a provider rejects are dropped or renamed here, never sent to fail. What may be
sent at all is an allow-list (providers/params.py): the chat fields farebox prices, plus each
preset's vetted `extras`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from farebox.providers.quirks import fix_deepseek, fix_groq, fix_mistral, fix_strip_reasoning, lift_groq_usage

if TYPE_CHECKING:
    from farebox.config import ProviderConfig


@dataclass(frozen=True)
class Preset:
    name: str
    headers: dict[str, str] = field(default_factory=dict)
    drop_params: frozenset[str] = frozenset()  # chat fields this upstream rejects
    extras: frozenset[str] = frozenset()  # vetted fields beyond the priced chat fields it takes
    # Strict upstreams (422 on any unknown field): only these top-level fields are sent.
    allow_params: frozenset[str] | None = None
    rename_params: dict[str, str] = field(default_factory=dict)  # applied when the target is absent
    stream_options: bool = True  # False: the upstream refuses stream_options (it sends usage anyway)
    fix_request: Callable[[dict[str, Any]], None] | None = None
    fix_chunk: Callable[[dict[str, Any]], None] | None = None
    unsupported_features: frozenset[str] = frozenset()  # taken off the adapter's supported_features


# Sampling extras that only vLLM-style servers (and OpenRouter) accept. None changes the price.
_SAMPLING_EXTRAS = frozenset({"top_k", "min_p", "repetition_penalty"})
_VLLM_EXTRAS = _SAMPLING_EXTRAS | {"chat_template_kwargs"}
# OpenAI-only request fields that other hosted APIs answer 400 to.
_OPENAI_ONLY = frozenset({"prompt_cache_key", "store", "metadata", "service_tier", "modalities", "audio",
                          "prediction", "web_search_options", "safety_identifier", "verbosity"})
_MAX_TOKENS = {"max_completion_tokens": "max_tokens"}

# Mistral's chat completion request (docs.mistral.ai/api): anything else is a 422.
_MISTRAL_FIELDS = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
    "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n",
    "prediction", "parallel_tool_calls", "prompt_mode", "safe_prompt",
})

PRESETS: dict[str, Preset] = {
    # OpenAI: reasoning models refuse max_tokens; max_completion_tokens works for every model.
    "openai": Preset("openai", drop_params=_VLLM_EXTRAS, rename_params={"max_tokens": "max_completion_tokens"}),
    # vLLM takes the OpenAI fields plus its sampling extras and chat_template_kwargs.
    "vllm": Preset("vllm", extras=_VLLM_EXTRAS),
    # llama.cpp server: one choice only; usage (and `timings`) ride on the last chunk.
    "llamacpp": Preset("llamacpp", drop_params=frozenset({"n", "chat_template_kwargs"}) | _OPENAI_ONLY,
                       extras=_SAMPLING_EXTRAS, rename_params=_MAX_TOKENS),
    # Ollama's /v1: max_tokens (not max_completion_tokens), no logit_bias or n.
    "ollama": Preset("ollama", drop_params=_VLLM_EXTRAS | _OPENAI_ONLY | {"logit_bias", "n", "user"},
                     rename_params=_MAX_TOKENS),
    # DeepSeek: max_tokens; no n, seed or parallel_tool_calls; reasoning_content of past turns is a 400.
    "deepseek": Preset("deepseek", drop_params=_VLLM_EXTRAS | _OPENAI_ONLY | {"n", "seed", "parallel_tool_calls",
                                                                           "logit_bias", "reasoning_effort"},
                       rename_params=_MAX_TOKENS, fix_request=fix_deepseek),
    # Mistral: strict fields, seed is random_seed, tool call IDs are 9 alphanumerics, no logprobs.
    "mistral": Preset("mistral", allow_params=_MISTRAL_FIELDS, stream_options=False,
                      extras=frozenset({"random_seed", "prompt_mode", "safe_prompt"}),
                      rename_params={"seed": "random_seed", **_MAX_TOKENS}, fix_request=fix_mistral,
                      unsupported_features=frozenset({"logprobs"})),
    # Cerebras: 400 on the penalties, logit_bias, parallel_tool_calls and service_tier.
    "cerebras": Preset("cerebras", drop_params=_VLLM_EXTRAS | _OPENAI_ONLY | {
        "presence_penalty", "frequency_penalty", "logit_bias", "parallel_tool_calls"},
        fix_request=fix_strip_reasoning),
    # Groq: 400 on logprobs, top_logprobs, logit_bias, messages[].name and n != 1.
    "groq": Preset("groq", drop_params=_VLLM_EXTRAS | _OPENAI_ONLY | {"logprobs", "top_logprobs", "logit_bias", "n"},
                   fix_request=fix_groq, fix_chunk=lift_groq_usage, unsupported_features=frozenset({"logprobs"})),
    # OpenRouter forwards the sampling extras itself (but not its routing fields: params.py);
    # attribution headers (override them with the provider's `headers`).
    "openrouter": Preset("openrouter", extras=_SAMPLING_EXTRAS,
                         headers={"HTTP-Referer": "https://github.com/farebox/farebox", "X-Title": "farebox"}),
}
# `kind: noop`: the OpenAI-compatible adapter over the in-process transport (providers/noop.py),
# which takes the priced chat fields, answers one choice and has no eyes (no vision). Not a
# preset an operator picks, so it is not in PRESETS' public list.
NOOP = Preset("noop", unsupported_features=frozenset({"vision"}))

_HOSTS = {
    "api.openai.com": "openai", "api.deepseek.com": "deepseek", "api.mistral.ai": "mistral",
    "codestral.mistral.ai": "mistral", "api.cerebras.ai": "cerebras", "api.groq.com": "groq",
    "openrouter.ai": "openrouter",
}


def preset_of(config: ProviderConfig) -> Preset:
    """The preset an OpenAI-compatible provider (or the noop one) runs with."""
    return NOOP if config.kind == "noop" else preset_for(config.preset, config.base_url or "")


def preset_named(name: str) -> Preset:
    return NOOP if name == NOOP.name else PRESETS[name]


def preset_for(name: str | None, base_url: str) -> Preset:
    if name:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r} (presets: {', '.join(PRESETS)})")
        return PRESETS[name]
    for host, preset in _HOSTS.items():
        if host in base_url:
            return PRESETS[preset]
    return PRESETS["vllm"]  # self-hosted servers accept the standard fields and pass extras on
