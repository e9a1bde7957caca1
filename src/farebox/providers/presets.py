"""Quirks of the OpenAI-compatible family, as data. Pick one with `preset:` in a provider's
config, or let the base URL's host pick it (api.deepseek.com -> deepseek, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    name: str
    headers: dict[str, str] = field(default_factory=dict)
    drop_params: frozenset[str] = frozenset()
    rename_params: dict[str, str] = field(default_factory=dict)
    fix_request: Callable[[dict[str, Any]], None] | None = None


# Sampling extras that only vLLM-style servers accept.
_VLLM_EXTRAS = frozenset({"top_k", "min_p", "repetition_penalty", "chat_template_kwargs"})

PRESETS: dict[str, Preset] = {
    "openai": Preset("openai", drop_params=_VLLM_EXTRAS),
    "vllm": Preset("vllm"),
    "llamacpp": Preset("llamacpp"),
    "ollama": Preset("ollama", drop_params=frozenset({"chat_template_kwargs", "prompt_cache_key"})),
    "deepseek": Preset("deepseek", drop_params=_VLLM_EXTRAS | {"prompt_cache_key", "n", "seed"}),
    "mistral": Preset("mistral", drop_params=_VLLM_EXTRAS | {"prompt_cache_key", "logprobs", "top_logprobs",
                                                             "user", "parallel_tool_calls"},
                      rename_params={"seed": "random_seed"}),
    "cerebras": Preset("cerebras", drop_params=_VLLM_EXTRAS | {"prompt_cache_key", "presence_penalty",
                                                               "frequency_penalty"}),
    "groq": Preset("groq", drop_params=_VLLM_EXTRAS | {"prompt_cache_key", "logprobs", "top_logprobs"}),
    "openrouter": Preset("openrouter", headers={"HTTP-Referer": "https://github.com/farebox/farebox",
                                                "X-Title": "farebox"}),
}

_HOSTS = {
    "api.openai.com": "openai", "api.deepseek.com": "deepseek", "api.mistral.ai": "mistral",
    "api.cerebras.ai": "cerebras", "api.groq.com": "groq", "openrouter.ai": "openrouter",
}


def preset_for(name: str | None, base_url: str) -> Preset:
    if name:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r} (presets: {', '.join(PRESETS)})")
        return PRESETS[name]
    for host, preset in _HOSTS.items():
        if host in base_url:
            return PRESETS[preset]
    return PRESETS["vllm"]  # self-hosted servers accept the standard fields and pass extras on
